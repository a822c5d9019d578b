"""Config plumbing shared by every agent: fields with their help, presets, overrides, devices.

A run config is a frozen dataclass; each field a user may set is declared with :func:`option`,
whose help text is the one place that field is described (the CLI generates its flag from it,
CleanRL style). Presets are named instances of the dataclass, never copies of code.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, TypeVar

C = TypeVar("C")
MAX_VALUE = 2**63


def option(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    flag: str | None = None,
    choices: Sequence[str] | None = None,
) -> Any:
    """A config field and its command-line help, stated once.

    ``flag`` renames the flag (default: the field name with dashes, ``--batch-size``);
    ``choices`` restricts a string field. A field with no default is a required flag.
    """
    metadata = {"help": help, "flag": flag, "choices": choices}
    return dataclasses.field(default=default, metadata=metadata)


def flag_of(config: object, name: str) -> str:
    """The command-line flag of a config field (``--lr`` for ``learning_rate``)."""
    field = next(f for f in dataclasses.fields(config) if f.name == name)
    return "--" + (field.metadata.get("flag") or name).replace("_", "-")


def with_overrides(config: C, **overrides: Any) -> C:
    """``config`` with every non-None override applied (None means "flag not given")."""
    given = {k: v for k, v in overrides.items() if v is not None}
    names = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(given) - names)
    if unknown:
        raise ValueError(f"unknown config field(s) {unknown} for {type(config).__name__}")
    return dataclasses.replace(config, **given)


def from_dict(cls: type[C], data: dict) -> C:
    """Rebuild a config dataclass from its JSON dict, naming any field this version lacks."""
    if not isinstance(data, dict):
        raise ValueError(f"saved config is a {type(data).__name__}, not a {cls.__name__} object")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"saved config has field(s) {unknown} that {cls.__name__} does not know")
    try:
        return cls(**data)
    except TypeError as err:  # a value of the wrong type, e.g. "epochs": "5"
        raise ValueError(f"saved config does not fit {cls.__name__}: {err}") from err


def check_bounds(
    config: object,
    *,
    at_least_one: Sequence[str] = (),
    positive: Sequence[str] = (),
    non_negative: Sequence[str] = (),
) -> None:
    """Refuse a config whose named fields are out of range, naming the first such field.

    Every bound is finite (inf and NaN are refused) and below 2**63, what seeds and counts can
    hold downstream. ``None`` values pass (they mean "the default of whatever the field feeds").
    """
    rules = [
        (at_least_one, lambda v: v >= 1, ">= 1"),
        (positive, lambda v: v > 0, "> 0"),
        (non_negative, lambda v: v >= 0, ">= 0"),
    ]
    for names, ok, text in rules:
        for name in names:
            value = getattr(config, name)
            if value is None:
                continue
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise TypeError(f"{name} must be a number, got {value!r}")
            if not (ok(value) and value < MAX_VALUE and math.isfinite(value)):
                raise ValueError(
                    f"{name} ({flag_of(config, name)}) must be {text}, finite and below 2**63, "
                    f"got {value}"
                )

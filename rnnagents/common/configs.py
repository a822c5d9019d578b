"""Config plumbing shared by every agent: presets as named instances, overrides, devices."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import torch

C = TypeVar("C")


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
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"saved config has field(s) {unknown} that {cls.__name__} does not know")
    return cls(**data)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch sees no CUDA device")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda[:N]")
    return torch.device(name)

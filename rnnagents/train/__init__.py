"""Everything that runs: one folder per agent kind, the same files in each, and what they share.

``rnnagents train KIND`` lives in ``rnnagents/train/KIND/``: ``config`` (the run's dataclass and
its presets), ``trainer``, ``evaluate`` (``evaluate_run`` writes ``eval.json``) and ``watch``
(``film`` returns ``(frames, fps)``). A kind's folder imports only this folder's own files
(``loop``, ``real_game``) and the floors below, never another kind's folder. Kinds are imported
lazily, so naming one does not load the others (or torch).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from rnnagents.common.run_dir import read_run_config

KINDS = ("ram", "ppo", "worldmodel")


def kind_module(kind: str, part: str) -> ModuleType:
    """``rnnagents.train.KIND.PART``, e.g. ``kind_module("ram", "evaluate")``."""
    if kind not in KINDS:
        raise ValueError(f"unknown agent kind {kind!r}; expected one of {list(KINDS)}")
    return importlib.import_module(f"rnnagents.train.{kind}.{part}")


def film(
    run_dir: str | os.PathLike,
    episodes: int,
    max_steps: int | None = None,
    device: str = "auto",
) -> tuple[list, int]:
    """(frames, fps) of ``episodes`` evaluation episodes of any run, by its kind's ``film``."""
    if episodes < 1:
        raise ValueError("--episodes must be >= 1")
    if max_steps is not None and max_steps < 1:
        raise ValueError("--max-steps must be >= 1")
    kind, _ = read_run_config(run_dir)
    return kind_module(kind, "watch").film(run_dir, episodes, max_steps, device)

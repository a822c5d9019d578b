"""The run directory: one folder per run holding its config, metrics, checkpoints and media."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TypeVar

from rnnagents.common.configs import from_dict
from rnnagents.common.files import write_json

C = TypeVar("C")

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"


def default_run_dir(agent: str, env_id: str | None = None) -> Path:
    name = agent if env_id is None else f"{agent}-{env_id.split('/')[-1]}"
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def start_run_dir(run_dir: str | os.PathLike, config: dict, agent: str) -> Path:
    """Create a new run directory; refuses one that already holds a run (use --resume)."""
    run_dir = Path(run_dir)
    if (run_dir / CONFIG_FILE).exists():
        raise FileExistsError(
            f"{run_dir} already holds a run; pass --resume {run_dir} to continue it, "
            "or choose another --run-dir"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / CONFIG_FILE, {"agent": agent, "config": config})
    return run_dir


def read_run_config(run_dir: str | os.PathLike) -> tuple[str, dict]:
    """(agent, config dict) of an existing run, with a clear error when it is not one."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory: {CONFIG_FILE} is missing")
    try:
        data = json.loads(path.read_text())
        return data["agent"], data["config"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is corrupt: {err}") from err


def read_run(run_dir: str | os.PathLike, kind: str, config_class: type[C]) -> C:
    """The config of an existing run of ``kind``, rebuilt as ``config_class``.

    The one way every command opens a run: a folder that is not a run, a run of another kind
    and a config this version cannot read each get an error naming the folder.
    """
    agent, saved = read_run_config(run_dir)
    if agent != kind:
        raise ValueError(f"{run_dir} is a {agent!r} run, not a {kind!r} run")
    return from_dict(config_class, saved)

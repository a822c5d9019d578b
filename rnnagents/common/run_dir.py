"""The run directory: one folder per run holding its config, metrics, checkpoints and media.

One process writes a run at a time: :func:`locked` holds an OS file lock on ``RUN_DIR/.lock``
for as long as a run trains. The OS drops the lock when its process ends, however it ends, so a
run killed mid-epoch never blocks its own ``--resume``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from rnnagents.common.configs import from_dict
from rnnagents.common.files import write_json

C = TypeVar("C")

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"
LOCK_FILE = ".lock"


class RunDirInUse(RuntimeError):
    """Another process is writing this run directory."""


def default_run_dir(agent: str, env_id: str | None = None) -> Path:
    name = agent if env_id is None else f"{agent}-{env_id.split('/')[-1]}"
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def start_run_dir(
    run_dir: str | os.PathLike, config: dict, agent: str, *, resume: bool = False
) -> Path:
    """Create a new run directory; refuses one that already holds a run (use --resume).

    With ``resume`` the run must exist, and its config file is rewritten with ``config`` (what
    a resume may change, such as more epochs), so the folder always says what it holds.
    """
    run_dir = Path(run_dir)
    if resume:
        read_run_config(run_dir)  # a clear error when there is no run to resume
    elif (run_dir / CONFIG_FILE).exists():
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


@contextlib.contextmanager
def locked(run_dir: str | os.PathLike, *, create: bool = True) -> Iterator[Path]:
    """Hold ``run_dir``'s lock or raise :class:`RunDirInUse` naming the process that holds it.

    ``create`` makes the folder (a new run); otherwise it must be a run directory already.
    """
    run_dir = Path(run_dir)
    if create:
        run_dir.mkdir(parents=True, exist_ok=True)
    else:
        read_run_config(run_dir)  # a clear error for a folder that holds no run
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunDirInUse(
                f"{run_dir} is in use by process {holder}; let it finish or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield run_dir
    finally:
        os.close(fd)  # closing the last descriptor releases the lock

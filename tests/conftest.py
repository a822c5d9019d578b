"""Test-wide settings: offline, no network, no W&B login, quiet data notice."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("RNNAGENTS_NO_DOWNLOAD", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("MPLBACKEND", "Agg")
# Tests run two per core pair (pytest -n 2); torch's default of one thread per core would make
# them fight (tiny matmuls spin-wait badly when oversubscribed). Subprocesses inherit this.
os.environ["OMP_NUM_THREADS"] = "1"

import gymnasium as gym  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

import rnnagents  # noqa: E402,F401  (registers the rnnagents ids)

# A glimpse task small enough to learn in seconds: the coarsest scale sees the whole canvas.
TINY_ENV = "tests/TinyClutteredMNIST-v0"
if TINY_ENV not in gym.registry:
    gym.register(
        TINY_ENV,
        entry_point="rnnagents.envs.cluttered_mnist:ClutteredMNISTEnv",
        vector_entry_point="rnnagents.envs.cluttered_mnist:ClutteredMNISTVectorEnv",
        kwargs=dict(
            canvas_size=32, glimpse_size=8, n_scales=3, n_glimpses=4, n_clutter=2, clutter_size=8
        ),
    )


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
    """Keep every W&B file in tmp_path and never touch the network."""
    for name, sub in [
        ("WANDB_DIR", "wandb_dir"),
        ("WANDB_CACHE_DIR", "cache"),
        ("WANDB_CONFIG_DIR", "config"),
        ("WANDB_DATA_DIR", "data"),
    ]:
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(name, str(tmp_path / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    monkeypatch.delenv("WANDB_RUN_ID", raising=False)


def read_wandb_record(path: Path, names: list[bytes], timeout: float = 60.0) -> bytes:
    """The offline run's transaction log once it holds every name in ``names``.

    wandb 0.31's ``finish()`` can return before its writer process has flushed the log (seen on
    a loaded machine: the file held only its header), so a reader waits for it, bounded.
    """
    deadline = time.monotonic() + timeout
    data = path.read_bytes()
    while any(name not in data for name in names) and time.monotonic() < deadline:
        time.sleep(0.2)
        data = path.read_bytes()
    return data


CLI = [sys.executable, "-m", "rnnagents", "--threads", "1"]
"""The installed command as a subprocess sees it (one torch thread: tests run two at a time)."""


@pytest.fixture
def run_cli():
    """``run_cli(*args, check=True)``: run ``rnnagents ARGS`` in a fresh process, return its
    ``CompletedProcess`` with text output. Tests using it are marked ``slow``."""

    def run(*args, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*CLI, *map(str, args)], capture_output=True, text=True, check=check, env=env
        )

    return run

"""Test-wide settings: offline, no network, no W&B login, quiet data notice."""

import os

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
        vector_entry_point="rnnagents.envs.cluttered_mnist_vector:ClutteredMNISTVectorEnv",
        kwargs=dict(
            canvas_size=32, glimpse_size=8, n_scales=3, n_glimpses=4, n_clutter=2, clutter_size=8
        ),
    )

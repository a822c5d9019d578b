"""Test-wide settings: offline, no network, no W&B login, quiet data notice."""

import os

os.environ.setdefault("RNNAGENTS_NO_DOWNLOAD", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("MPLBACKEND", "Agg")

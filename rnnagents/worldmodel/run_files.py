"""Where each stage of a World Models run keeps its outputs inside the run directory."""

from __future__ import annotations

import os
from pathlib import Path

from rnnagents.train.config import from_dict, write_json
from rnnagents.worldmodel.config import WorldModelConfig

ROLLOUTS = "rollouts"  # frame shards of real episodes (collect)
VAE = "vae.pt"
LATENTS = "latents"  # (mu, logvar) shards of the same episodes (encode)
MDNRNN = "mdnrnn.pt"
CONTROLLER = "controller.pt"
STAGES = "stages"  # one marker file per completed stage


def stage_done(run_dir: str | os.PathLike, stage: str) -> bool:
    return (Path(run_dir) / STAGES / f"{stage}.json").exists()


def mark_stage_done(run_dir: str | os.PathLike, stage: str, summary: dict) -> None:
    """Written last and atomically: a stage cut short never looks complete."""
    (Path(run_dir) / STAGES).mkdir(parents=True, exist_ok=True)
    write_json(Path(run_dir) / STAGES / f"{stage}.json", summary)


def run_config(run_dir: str | os.PathLike) -> WorldModelConfig:
    from rnnagents.train.run_dir import read_run_config

    agent, saved = read_run_config(run_dir)
    if agent != "worldmodel":
        raise ValueError(f"{run_dir} is a {agent!r} run, not a world-model run")
    return from_dict(WorldModelConfig, saved)

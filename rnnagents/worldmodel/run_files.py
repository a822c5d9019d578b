"""A World Models run directory: where each stage keeps its outputs, and loading them back."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from rnnagents.common.checkpoint import load_checkpoint
from rnnagents.common.files import write_json
from rnnagents.common.run_dir import read_run
from rnnagents.worldmodel import mdnrnn as memory
from rnnagents.worldmodel.config import WorldModelConfig
from rnnagents.worldmodel.mdnrnn import load_mdnrnn
from rnnagents.worldmodel.shards import LATENTS as LATENT_SCHEMA
from rnnagents.worldmodel.shards import list_shards, read_shard
from rnnagents.worldmodel.vae import ConvVAE, load_vae

AGENT = "worldmodel"
ROLLOUTS = "rollouts"  # frame shards of real episodes (collect)
VAE = "vae.pt"
LATENTS = "latents"  # (mu, logvar) shards of the same episodes (encode)
MDNRNN = "mdnrnn.pt"
CONTROLLER = "controller.pt"
STAGES = "stages"  # one marker file per completed stage
CHOSEN_NOISE = "action_noise"  # in controller.pt: the noise the select stage chose with C
ITERATION_PREFIX = "iteration-"  # iteration-K/: round K's M and C


def iteration_dir(iteration: int) -> str:
    return f"{ITERATION_PREFIX}{iteration}"


def stage_done(run_dir: str | os.PathLike, stage: str) -> bool:
    return (Path(run_dir) / STAGES / f"{stage}.json").exists()


def mark_stage_done(run_dir: str | os.PathLike, stage: str, summary: dict) -> None:
    """Written last and atomically: a stage cut short never looks complete."""
    (Path(run_dir) / STAGES).mkdir(parents=True, exist_ok=True)
    write_json(Path(run_dir) / STAGES / f"{stage}.json", summary)


def run_config(run_dir: str | os.PathLike) -> WorldModelConfig:
    return read_run(run_dir, AGENT, WorldModelConfig)


def start_latents(latent_dir: str | os.PathLike, device="cpu") -> torch.Tensor:
    """[K, 2, z] (mu, logvar) of each real episode's first frame: where dreams begin."""
    paths = list_shards(latent_dir)
    if not paths:
        raise FileNotFoundError(f"no latent shards in {latent_dir}: run the encode stage first")
    firsts = []
    for path in paths:
        shard = read_shard(path, LATENT_SCHEMA)
        firsts.append(np.stack([shard["mu"][0], shard["logvar"][0]]))
    return torch.as_tensor(np.stack(firsts), dtype=torch.float32, device=device)


def load_world_model(run_dir: str | os.PathLike, device="cpu") -> tuple[ConvVAE, memory.MDNRNN]:
    """(V, M) of a run whose V and M stages are complete."""
    run_dir = Path(run_dir)
    config = run_config(run_dir)
    return load_vae(run_dir / VAE, config, device), load_mdnrnn(run_dir / MDNRNN, config, device)


def load_dream_parts(
    run_dir: str | os.PathLike, device="cpu"
) -> tuple[ConvVAE, memory.MDNRNN, torch.Tensor]:
    """(V, M, start latents) of a run whose V, encode and M stages are complete."""
    vae, mdnrnn = load_world_model(run_dir, device)
    return vae, mdnrnn, start_latents(Path(run_dir) / LATENTS, device)


def load_controller_params(run_dir: str | os.PathLike) -> np.ndarray:
    ckpt = load_checkpoint(Path(run_dir) / CONTROLLER, expected_kind="controller")
    return ckpt["params"].numpy().astype(np.float32)


def load_controller_noise(run_dir: str | os.PathLike) -> float | None:
    """The OU noise std the select stage chose with the run's C (None: it chose none)."""
    ckpt = load_checkpoint(Path(run_dir) / CONTROLLER, expected_kind="controller")
    return None if CHOSEN_NOISE not in ckpt else float(ckpt[CHOSEN_NOISE])


def scored_action_noise(run_dir: str | os.PathLike) -> float:
    """The OU noise std C is scored and filmed with: the select stage's choice, else the run's
    ``action_noise``."""
    chosen = load_controller_noise(run_dir)
    return run_config(run_dir).action_noise if chosen is None else chosen

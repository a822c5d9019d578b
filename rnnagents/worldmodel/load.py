"""Loading a trained world model (V, M, start latents, C) back from its run directory."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from rnnagents.train.checkpoint import load_checkpoint
from rnnagents.worldmodel import run_files
from rnnagents.worldmodel.mdnrnn import MDNRNN, load_mdnrnn
from rnnagents.worldmodel.shards import LATENTS, list_shards, read_shard
from rnnagents.worldmodel.vae import ConvVAE, load_vae


def start_latents(latent_dir: str | os.PathLike, device="cpu") -> torch.Tensor:
    """[K, 2, z] (mu, logvar) of each real episode's first frame: where dreams begin."""
    paths = list_shards(latent_dir)
    if not paths:
        raise FileNotFoundError(f"no latent shards in {latent_dir}: run the encode stage first")
    firsts = []
    for path in paths:
        shard = read_shard(path, LATENTS)
        firsts.append(np.stack([shard["mu"][0], shard["logvar"][0]]))
    return torch.as_tensor(np.stack(firsts), dtype=torch.float32, device=device)


def load_dream_parts(
    run_dir: str | os.PathLike, device="cpu"
) -> tuple[ConvVAE, MDNRNN, torch.Tensor]:
    """(V, M, start latents) of a run whose V, encode and M stages are complete."""
    run_dir = Path(run_dir)
    config = run_files.run_config(run_dir)
    vae = load_vae(run_dir / run_files.VAE, config, device)
    mdnrnn = load_mdnrnn(run_dir / run_files.MDNRNN, config, device)
    return vae, mdnrnn, start_latents(run_dir / run_files.LATENTS, device)


def load_controller_params(run_dir: str | os.PathLike) -> np.ndarray:
    ckpt = load_checkpoint(Path(run_dir) / run_files.CONTROLLER, expected_kind="controller")
    return ckpt["params"].numpy().astype(np.float32)

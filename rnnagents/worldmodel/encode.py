"""Encode stage: every frame shard becomes a latent shard of V's posterior (mu, logvar).

Each latent shard records the digest of the V that wrote it, so an interrupted encode resumes
(shards already current are kept) and a retrained V re-encodes everything.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from rnnagents.worldmodel.shards import LATENTS, ShardError, list_shards, read_shard, write_shard
from rnnagents.worldmodel.vae import ConvVAE, frames_to_tensor


def model_digest(model: nn.Module) -> str:
    """A short hash of the weights: tells latent files made by other weights apart."""
    digest = hashlib.sha1()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@torch.no_grad()
def encode_shards(
    vae: ConvVAE,
    shard_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    device: torch.device | str,
    batch_size: int = 500,
    progress: bool = True,
) -> list[Path]:
    """Write each frame shard's posterior (mu, logvar) with its actions etc. as a latent shard.

    Latent shards that already exist, validate, and were made by these very weights (their
    ``vae_digest``) are kept, so an interrupted encode resumes and a retrained VAE re-encodes.
    Returns the latent shard paths in frame shard order.
    """
    vae.eval()
    digest = model_digest(vae)
    paths = []
    for frame_path in tqdm(
        list_shards(shard_dir), desc="encode", unit="episode", disable=not progress
    ):
        name = frame_path.name.removesuffix(frame_path.suffix)
        latent_path = Path(out_dir) / frame_path.name
        if not _is_current(latent_path, digest):
            episode = read_shard(frame_path)
            mus, logvars = zip(
                *(
                    vae.encode(frames_to_tensor(episode["frames"][i : i + batch_size], device))
                    for i in range(0, len(episode["frames"]), batch_size)
                ),
                strict=True,
            )
            write_shard(
                out_dir,
                name,
                {
                    "mu": torch.cat(mus).cpu().numpy(),
                    "logvar": torch.cat(logvars).cpu().numpy(),
                    **{
                        key: episode[key]
                        for key in ("actions", "rewards", "terminations", "episode_seed")
                    },
                    "vae_digest": digest,
                },
                LATENTS,
            )
        paths.append(latent_path)
    return paths


def _is_current(latent_path: Path, digest: str) -> bool:
    if not latent_path.exists():
        return False
    try:
        return read_shard(latent_path, LATENTS)["vae_digest"] == digest
    except ShardError:
        return False

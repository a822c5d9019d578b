"""The vision model V of World Models: a convolutional VAE from 64x64 frames to 32 numbers.

Architecture and loss follow Ha & Schmidhuber (2018), appendix A.1. The KL term is floored at
``kl_tolerance * z_dim`` per frame ("free bits"): below that the latent is free to carry
information, so the reconstruction term does not get drowned by a KL pull towards the prior.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from rnnagents.train.checkpoint import load_checkpoint
from rnnagents.train.run_logger import RunLogger
from rnnagents.train.video import tile_frames
from rnnagents.worldmodel.config import VAE_KEYS, WorldModelConfig
from rnnagents.worldmodel.epoch_loop import EpochStats, train_epochs
from rnnagents.worldmodel.shards import (
    LATENTS,
    ShardError,
    iter_frames,
    list_shards,
    read_shard,
    write_shard,
)

KIND = "vae"


class ConvVAE(nn.Module):
    """Encoder: 4 stride-2 convs to a 2x2x256 map; decoder: 4 stride-2 deconvs back to 64x64."""

    def __init__(self, z_dim: int = 32) -> None:
        super().__init__()
        self.z_dim = z_dim
        channels = (3, 32, 64, 128, 256)
        self.encoder = nn.Sequential(*(
            layer
            for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)
            for layer in (nn.Conv2d(c_in, c_out, 4, stride=2), nn.ReLU())
        ), nn.Flatten())
        self.to_mu = nn.Linear(1024, z_dim)
        self.to_logvar = nn.Linear(1024, z_dim)
        self.from_z = nn.Linear(z_dim, 1024)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(1024, 128, 5, stride=2), nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 5, stride=2), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 6, stride=2), nn.ReLU(),
            nn.ConvTranspose2d(32, 3, 6, stride=2), nn.Sigmoid(),
        )

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x``: ``[B, 3, 64, 64]`` in [0, 1] -> ``(mu, logvar)``, each ``[B, z_dim]``."""
        features = self.encoder(x)
        return self.to_mu(features), self.to_logvar(features)

    def decode(self, z: Tensor) -> Tensor:
        """``z``: ``[B, z_dim]`` -> frames ``[B, 3, 64, 64]`` in [0, 1]."""
        return self.decoder(self.from_z(z)[:, :, None, None])

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Reconstruct ``x`` through a reparameterized sample of its posterior."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z), mu, logvar


def frames_to_tensor(frames: np.ndarray, device: torch.device | str = "cpu") -> Tensor:
    """uint8 ``[B, 64, 64, 3]`` (how shards store frames) -> float ``[B, 3, 64, 64]`` in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    return x.permute(0, 3, 1, 2).float().div_(255.0)


class VAELoss(NamedTuple):
    total: Tensor
    reconstruction: Tensor
    kl: Tensor


def vae_loss(
    x: Tensor, recon: Tensor, mu: Tensor, logvar: Tensor, kl_tolerance: float = 0.5
) -> VAELoss:
    """Squared error summed over pixels plus KL floored at ``kl_tolerance * z_dim``.

    Both are per frame, averaged over the batch, as in the paper's implementation.
    """
    reconstruction = (recon - x).pow(2).flatten(1).sum(1).mean()
    kl_per_frame = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    kl = kl_per_frame.clamp(min=kl_tolerance * mu.shape[1]).mean()
    return VAELoss(reconstruction + kl, reconstruction, kl)


def model_digest(model: nn.Module) -> str:
    """A short hash of the weights: tells latent files made by other weights apart."""
    digest = hashlib.sha1()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def load_vae(path: str | os.PathLike, config: WorldModelConfig,
             device: torch.device | str = "cpu") -> ConvVAE:
    """The VAE of a checkpoint written by ``train_vae``, in eval mode."""
    ckpt = load_checkpoint(path, expected_kind=KIND, expected_config=config.as_dict(),
                           compare_keys=VAE_KEYS)
    vae = ConvVAE(config.z_dim).to(device)
    vae.load_state_dict(ckpt["model"])
    return vae.eval()


def _reconstruction_panel(vae: ConvVAE, frames: np.ndarray) -> np.ndarray:
    """Originals (top row) over their reconstructions from the posterior mean."""
    vae.eval()
    with torch.no_grad():
        device = next(vae.parameters()).device
        recon = vae.decode(vae.encode(frames_to_tensor(frames, device))[0])
    recon_frames = (recon.permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
    return tile_frames([list(frames), list(recon_frames)])


def train_vae(
    shard_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    config: WorldModelConfig,
    device: torch.device | str,
    logger: RunLogger,
    progress: bool = True,
) -> bool:
    """Train to ``config.vae_epochs`` on the frame shards in ``shard_dir``.

    Checkpoints (kind "vae") go to ``out_path`` every epoch and a run resumes from there; see
    ``epoch_loop.train_epochs``. Returns False when Ctrl-C stopped it early.
    """
    shards = list_shards(shard_dir)
    if not shards:
        raise FileNotFoundError(f"no frame shards in {shard_dir}; run the collect stage first")
    torch.manual_seed(config.seed)  # initial weights; a resumed run loads its own
    vae = ConvVAE(config.z_dim).to(device)
    optimizer = torch.optim.Adam(vae.parameters(), lr=config.vae_lr)
    sample = read_shard(shards[0])["frames"]
    sample = sample[np.linspace(0, len(sample) - 1, 8).astype(int)]

    def batches(rng: np.random.Generator) -> Iterator[np.ndarray]:
        return iter_frames(shards, config.vae_batch_size, rng, config.vae_shards_in_memory)

    def train_batch(frames: np.ndarray) -> dict[str, float]:
        x = frames_to_tensor(frames, device)
        loss = vae_loss(x, *vae(x), kl_tolerance=config.vae_kl_tolerance)
        optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        optimizer.step()
        return {"loss": loss.total.item(), "reconstruction": loss.reconstruction.item(),
                "kl": loss.kl.item(), "frames": float(len(x))}

    def end_epoch(epoch: int, step: int, stats: EpochStats) -> None:
        metrics = {f"vae/{key}": value for key, value in stats.means().items()
                   if key != "frames"}
        metrics["vae/frames_per_s"] = stats.sums.get("frames", 0.0) / max(stats.seconds, 1e-9)
        logger.log({**metrics, "vae/epoch": epoch}, step=step)
        logger.log_image("vae/reconstructions", _reconstruction_panel(vae, sample), step=step)
        if progress:
            tqdm.write(f"vae epoch {epoch}: loss {metrics['vae/loss']:.1f} "
                       f"(kl {metrics['vae/kl']:.2f}), {metrics['vae/frames_per_s']:.0f} frames/s")

    return train_epochs(
        model=vae, optimizer=optimizer, out_path=out_path, kind=KIND, config=config,
        compare_keys=VAE_KEYS, epochs=config.vae_epochs, batches=batches,
        train_batch=train_batch, end_epoch=end_epoch, progress=progress,
    )


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
    for frame_path in tqdm(list_shards(shard_dir), desc="encode", unit="episode",
                           disable=not progress):
        name = frame_path.name.removesuffix(frame_path.suffix)
        latent_path = Path(out_dir) / frame_path.name
        if not _is_current(latent_path, digest):
            episode = read_shard(frame_path)
            mus, logvars = zip(*(
                vae.encode(frames_to_tensor(episode["frames"][i : i + batch_size], device))
                for i in range(0, len(episode["frames"]), batch_size)
            ), strict=True)
            write_shard(out_dir, name, {
                "mu": torch.cat(mus).cpu().numpy(),
                "logvar": torch.cat(logvars).cpu().numpy(),
                **{key: episode[key] for key in ("actions", "rewards", "terminations",
                                                 "episode_seed")},
                "vae_digest": digest,
            }, LATENTS)
        paths.append(latent_path)
    return paths


def _is_current(latent_path: Path, digest: str) -> bool:
    if not latent_path.exists():
        return False
    try:
        return read_shard(latent_path, LATENTS)["vae_digest"] == digest
    except ShardError:
        return False

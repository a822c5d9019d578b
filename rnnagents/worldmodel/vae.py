"""The vision model V of World Models: a convolutional VAE from 64x64 frames to 32 numbers.

The model and its loss; ``rnnagents.train.worldmodel.fit`` trains it, ``encode`` applies it.

Architecture and loss follow Ha & Schmidhuber (2018), appendix A.1. The KL term is floored at
``kl_tolerance * z_dim`` per frame ("free bits"): below that the latent is free to carry
information, so the reconstruction term does not get drowned by a KL pull towards the prior.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from rnnagents.common.checkpoint import load_checkpoint, load_weights
from rnnagents.worldmodel.config import VAE_KEYS, WorldModelConfig

KIND = "vae"


class ConvVAE(nn.Module):
    """Encoder: 4 stride-2 convs to a 2x2x256 map; decoder: 4 stride-2 deconvs back to 64x64."""

    def __init__(self, z_dim: int = 32) -> None:
        super().__init__()
        self.z_dim = z_dim
        channels = (3, 32, 64, 128, 256)
        self.encoder = nn.Sequential(
            *(
                layer
                for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)
                for layer in (nn.Conv2d(c_in, c_out, 4, stride=2), nn.ReLU())
            ),
            nn.Flatten(),
        )
        self.to_mu = nn.Linear(1024, z_dim)
        self.to_logvar = nn.Linear(1024, z_dim)
        self.from_z = nn.Linear(z_dim, 1024)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(1024, 128, 5, stride=2),
            nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 5, stride=2),
            nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 6, stride=2),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 3, 6, stride=2),
            nn.Sigmoid(),
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


def load_vae(
    path: str | os.PathLike, config: WorldModelConfig, device: torch.device | str = "cpu"
) -> ConvVAE:
    """The VAE of a checkpoint written by V's training (``fit.train_vae``), in eval mode."""
    ckpt = load_checkpoint(
        path, expected_kind=KIND, expected_config=config.as_dict(), compare_keys=VAE_KEYS
    )
    vae = ConvVAE(config.z_dim).to(device)
    load_weights(vae, ckpt["model"], path)
    return vae.eval()

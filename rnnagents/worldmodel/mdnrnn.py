"""The memory model M of World Models: an LSTM whose output is a mixture density network.

Given the latent ``z_t`` of the current frame and the action ``a_t``, it predicts the
distribution of ``z_{t+1}`` as, for every latent dimension separately, a mixture of
``n_mixtures`` Gaussians (Ha & Schmidhuber 2018, appendix A.2), plus the reward the action earns
and whether it ends the episode. The LSTM's hidden state ``h`` is what the controller reads;
sampling the mixture at a temperature is how the dream is rolled out.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnagents.common.checkpoint import load_checkpoint
from rnnagents.worldmodel.config import MDN_KEYS, WorldModelConfig

KIND = "mdnrnn"
# log sigma is squashed softly into about [LOG_SIGMA_MIN, LOG_SIGMA_MAX]: sigma between 0.001
# and 7.4 latent units covers every posterior a 32-d VAE produces, while a vanishing sigma
# (which would make the likelihood, and its gradient, blow up) cannot occur.
LOG_SIGMA_MIN, LOG_SIGMA_MAX = -7.0, 2.0
# Standardized errors beyond this many sigmas have zero likelihood either way; capping them keeps
# their square finite in float32 whatever the targets are.
MAX_STANDARDIZED_ERROR = 1e6
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

State = tuple[Tensor, Tensor]
"""LSTM ``(h, c)``, each ``[B, hidden_size]``; the controller reads ``h``."""


class MDNOutput(NamedTuple):
    """Mixture over ``z_{t+1}``, each ``[..., n_mixtures, z_dim]``; ``log_pi`` is normalized
    over the mixture axis (-2)."""

    log_pi: Tensor
    mu: Tensor
    log_sigma: Tensor


def _soft_clamp(x: Tensor, low: float, high: float) -> Tensor:
    """About ``x`` inside ``[low, high]``, smoothly bent at the edges so gradients never die."""
    x = high - F.softplus(high - x)
    return low + F.softplus(x - low)


class MDNRNN(nn.Module):
    """LSTM on ``[z_t, a_t]`` with mixture, reward and termination heads."""

    def __init__(
        self, z_dim: int = 32, action_dim: int = 3, hidden_size: int = 256, n_mixtures: int = 5
    ) -> None:
        super().__init__()
        self.z_dim, self.n_mixtures, self.hidden_size = z_dim, n_mixtures, hidden_size
        self.lstm = nn.LSTM(z_dim + action_dim, hidden_size, batch_first=True)
        self.mdn_head = nn.Linear(hidden_size, 3 * n_mixtures * z_dim)
        self.reward_head = nn.Linear(hidden_size, 1)
        self.done_head = nn.Linear(hidden_size, 1)

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> State:
        """Zero ``(h, c)`` for ``batch`` sequences (on the model's device by default)."""
        device = self.mdn_head.weight.device if device is None else device
        zeros = torch.zeros(batch, self.hidden_size, device=device)
        return zeros, zeros.clone()

    def forward(
        self, z_seq: Tensor, a_seq: Tensor, state: State | None = None
    ) -> tuple[MDNOutput, Tensor, Tensor, State]:
        """``z_seq [B, T, z_dim]``, ``a_seq [B, T, action_dim]`` -> mixture ``[B, T, K, z_dim]``,
        predicted reward ``[B, T]``, termination logit ``[B, T]``, final state."""
        if state is None:
            state = self.initial_state(z_seq.shape[0], z_seq.device)
        h0, c0 = (s.unsqueeze(0).contiguous() for s in state)
        hidden, (h, c) = self.lstm(torch.cat([z_seq, a_seq], dim=-1), (h0, c0))
        raw = self.mdn_head(hidden).unflatten(-1, (3, self.n_mixtures, self.z_dim))
        mixture = MDNOutput(
            log_pi=F.log_softmax(raw[..., 0, :, :], dim=-2),
            mu=raw[..., 1, :, :],
            log_sigma=_soft_clamp(raw[..., 2, :, :], LOG_SIGMA_MIN, LOG_SIGMA_MAX),
        )
        reward = self.reward_head(hidden).squeeze(-1)
        done_logit = self.done_head(hidden).squeeze(-1)
        return mixture, reward, done_logit, (h[0], c[0])

    def step(self, z: Tensor, a: Tensor, state: State) -> tuple[MDNOutput, Tensor, Tensor, State]:
        """One step: ``z [B, z_dim]``, ``a [B, action_dim]`` -> mixture ``[B, K, z_dim]``,
        reward ``[B]``, termination logit ``[B]``, new state."""
        mixture, reward, done_logit, state = self.forward(z[:, None], a[:, None], state)
        return MDNOutput(*(t[:, 0] for t in mixture)), reward[:, 0], done_logit[:, 0], state


def _masked_mean(values: Tensor, mask: Tensor | None) -> Tensor:
    if mask is None:
        return values.mean()
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def mdn_loss(out: MDNOutput, target_z: Tensor, mask: Tensor | None = None) -> Tensor:
    """Negative log-likelihood of ``target_z [..., z_dim]`` per latent dimension, averaged.

    Computed in log space throughout (normalized log pi, log sigma, log-sum-exp over the
    mixture), so it stays finite for extreme targets and tiny sigmas. ``mask [...]`` (bool)
    drops padded steps from the average.
    """
    error = (target_z.unsqueeze(-2) - out.mu) * torch.exp(-out.log_sigma)
    error = error.clamp(-MAX_STANDARDIZED_ERROR, MAX_STANDARDIZED_ERROR)
    log_prob = out.log_pi - 0.5 * error.pow(2) - out.log_sigma - _HALF_LOG_2PI
    nll = -torch.logsumexp(log_prob, dim=-2).mean(-1)
    return _masked_mean(nll, mask)


def sample_mdn(
    out: MDNOutput, temperature: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """Draw ``z [..., z_dim]`` from the mixture at ``temperature`` (the paper's tau).

    Mixture logits are divided by tau and sigmas multiplied by sqrt(tau): tau > 1 makes the
    dream more uncertain (harder to exploit), tau < 1 more deterministic.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    probs = torch.softmax(out.log_pi / temperature, dim=-2)
    per_dim = probs.movedim(-2, -1)  # [..., z_dim, K]
    flat = per_dim.reshape(-1, per_dim.shape[-1])
    component = torch.multinomial(flat, 1, generator=generator).view(per_dim.shape[:-1])
    index = component.unsqueeze(-2)  # [..., 1, z_dim]
    mu = out.mu.gather(-2, index).squeeze(-2)
    sigma = out.log_sigma.gather(-2, index).squeeze(-2).exp()
    noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + sigma * math.sqrt(temperature) * noise


class MDNRNNLoss(NamedTuple):
    total: Tensor
    mdn: Tensor
    reward: Tensor
    done: Tensor


def mdnrnn_loss(
    model: MDNRNN, batch: dict[str, Tensor], done_pos_weight: float = 10.0
) -> MDNRNNLoss:
    """Loss of one batch of ``episode_windows`` (tensors), with ``z`` freshly sampled.

    Sampling ``z = mu + exp(logvar / 2) * eps`` anew for every batch (as the paper does) shows
    the model the VAE's uncertainty instead of one fixed encoding per frame.
    """
    z = batch["mu"] + torch.exp(0.5 * batch["logvar"]) * torch.randn_like(batch["mu"])
    out, reward, done_logit, _ = model(z[:, :-1], batch["actions"])
    mdn = mdn_loss(out, z[:, 1:], batch["next_mask"])
    reward_loss = _masked_mean((reward - batch["rewards"]).pow(2), batch["mask"])
    done = _masked_mean(
        F.binary_cross_entropy_with_logits(
            done_logit,
            batch["terminations"].to(done_logit.dtype),
            reduction="none",
            pos_weight=torch.tensor(done_pos_weight, device=done_logit.device),
        ),
        batch["mask"],
    )
    return MDNRNNLoss(mdn + reward_loss + done, mdn, reward_loss, done)


def load_mdnrnn(
    path: str | os.PathLike, config: WorldModelConfig, device: torch.device | str = "cpu"
) -> MDNRNN:
    """The MDN-RNN of a checkpoint written by M's training (``fit.train_mdnrnn``), in eval mode."""
    ckpt = load_checkpoint(
        path, expected_kind=KIND, expected_config=config.as_dict(), compare_keys=MDN_KEYS
    )
    model = build_mdnrnn(config).to(device)
    model.load_state_dict(ckpt["model"])
    return model.eval()


def build_mdnrnn(config: WorldModelConfig) -> MDNRNN:
    return MDNRNN(config.z_dim, hidden_size=config.mdn_hidden, n_mixtures=config.mdn_mixtures)

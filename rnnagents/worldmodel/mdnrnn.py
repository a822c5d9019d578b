"""The memory model M of World Models: an LSTM whose output is a mixture density network.

Given the latent ``z_t`` of the current frame and the action ``a_t``, it predicts the
distribution of ``z_{t+1}`` as, for every latent dimension separately, a mixture of
``n_mixtures`` Gaussians (Ha & Schmidhuber 2018, appendix A.2), plus what the action brings
(:class:`Heads`): the reward regressed, and CarRacing's two reward events classified, reaching a
new track tile and leaving the playfield (which ends the episode). The LSTM's hidden state ``h``
is what the controller reads; sampling the mixture at a temperature is how the dream is rolled
out.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from rnnagents.common.checkpoint import load_checkpoint, load_weights
from rnnagents.envs.carracing import OFF_PLAYFIELD_REWARD
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


class Heads(NamedTuple):
    """What M predicts an action brings, each ``[...]``: the reward (regressed), and the logits of
    "a new tile is reached" and "the car left the playfield" (the episode ends, reward -100)."""

    reward: Tensor
    tile_logit: Tensor
    done_logit: Tensor


class MDNOutput(NamedTuple):
    """Mixture over ``z_{t+1}``, each ``[..., n_mixtures, z_dim]``; ``log_pi`` is normalized
    over the mixture axis (-2)."""

    log_pi: Tensor
    mu: Tensor
    log_sigma: Tensor


class DreamMasks(NamedTuple):
    """One dream's dropout masks, each ``[B, size]`` or None: M's output, input and state."""

    output: Tensor | None
    input: Tensor | None
    state: Tensor | None


def _keep_mask(
    shape: tuple[int, ...],
    rate: float,
    device: torch.device | str,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Units kept with probability 1 - ``rate``, scaled by 1 / (1 - ``rate``)."""
    keep = torch.rand(shape, device=device, generator=generator) >= rate
    return keep.float() / (1.0 - rate)


def _soft_clamp(x: Tensor, low: float, high: float) -> Tensor:
    """About ``x`` inside ``[low, high]``, smoothly bent at the edges so gradients never die."""
    x = high - F.softplus(high - x)
    return low + F.softplus(x - low)


class MDNRNN(nn.Module):
    """LSTM on ``[z_t, a_t]`` with mixture, reward, new-tile and termination heads.

    Two dropouts make each dream a slightly different world (Wellmer & Kwok 2021, "Dropout's
    Dream Land"), so a controller must drive in all of them instead of exploiting one; each is
    applied with one mask per dream held for the whole dream (``dream_masks``), and the real
    game runs without either:

    * ``dropout`` drops units of the LSTM's output before the heads (per step in training);
    * ``recurrent_dropout`` drops units of the LSTM's input ``[z_t, a_t]`` and of the state
      ``h_{t-1}`` it feeds back (Gal & Ghahramani's variational dropout, where theirs sits). In
      training the input mask is one per sequence; the state mask is one per batch, applied as
      dropped columns of the recurrent weights (the same product), so the fused LSTM still runs.

    ``tile_reward`` is the reward of one new tile, measured on the training data (CarRacing gives
    1000 / tiles of the track); it is saved with the weights.
    """

    def __init__(
        self,
        z_dim: int = 32,
        action_dim: int = 3,
        hidden_size: int = 256,
        n_mixtures: int = 5,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {rate}")
        self.z_dim, self.n_mixtures, self.hidden_size = z_dim, n_mixtures, hidden_size
        self.input_size = z_dim + action_dim
        self.dropout, self.recurrent_dropout = dropout, recurrent_dropout
        self.lstm = nn.LSTM(self.input_size, hidden_size, batch_first=True)
        self.mdn_head = nn.Linear(hidden_size, 3 * n_mixtures * z_dim)
        self.reward_head = nn.Linear(hidden_size, 1)
        self.tile_head = nn.Linear(hidden_size, 1)
        self.done_head = nn.Linear(hidden_size, 1)
        self.register_buffer("tile_reward", torch.tensor(1000.0 / 300.0))

    def dream_masks(
        self, batch: int, generator: torch.Generator | None = None
    ) -> DreamMasks | None:
        """One dream's dropout masks per row (None without dropout), each scaled by
        1 / (1 - rate) like training's dropout."""
        if self.dropout == 0.0 and self.recurrent_dropout == 0.0:
            return None
        device = self.mdn_head.weight.device

        def mask(size: int, rate: float) -> Tensor | None:
            return _keep_mask((batch, size), rate, device, generator) if rate else None

        return DreamMasks(
            output=mask(self.hidden_size, self.dropout),
            input=mask(self.input_size, self.recurrent_dropout),
            state=mask(self.hidden_size, self.recurrent_dropout),
        )

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> State:
        """Zero ``(h, c)`` for ``batch`` sequences (on the model's device by default)."""
        device = self.mdn_head.weight.device if device is None else device
        zeros = torch.zeros(batch, self.hidden_size, device=device)
        return zeros, zeros.clone()

    def forward(
        self,
        z_seq: Tensor,
        a_seq: Tensor,
        state: State | None = None,
        masks: DreamMasks | None = None,
    ) -> tuple[MDNOutput, Heads, State]:
        """``z_seq [B, T, z_dim]``, ``a_seq [B, T, action_dim]`` -> mixture ``[B, T, K, z_dim]``,
        heads ``[B, T]``, final state. ``masks`` (from ``dream_masks``) replace training's
        dropout; a state mask acts on the state fed in, so it needs one step at a time (T = 1)."""
        if state is None:
            state = self.initial_state(z_seq.shape[0], z_seq.device)
        x = torch.cat([z_seq, a_seq], dim=-1)
        h0, c0 = state
        lstm_weights = None
        if masks is not None:
            if masks.input is not None:
                x = x * masks.input[:, None]
            if masks.state is not None:
                if x.shape[1] != 1:
                    raise ValueError("a dream's state mask steps one step at a time (T = 1)")
                h0 = h0 * masks.state
        elif self.training and self.recurrent_dropout > 0:
            rate = self.recurrent_dropout
            x = x * _keep_mask((x.shape[0], 1, x.shape[2]), rate, x.device)
            # W_hh (h * m) = (W_hh * m) h: one state mask for the batch as dropped weight columns
            state_mask = _keep_mask((1, self.hidden_size), rate, x.device)
            lstm_weights = {
                **dict(self.lstm.named_parameters()),
                "weight_hh_l0": self.lstm.weight_hh_l0 * state_mask,
            }
        lstm_state = (h0.unsqueeze(0).contiguous(), c0.unsqueeze(0).contiguous())
        if lstm_weights is None:
            hidden, (h, c) = self.lstm(x, lstm_state)
        else:
            hidden, (h, c) = functional_call(self.lstm, lstm_weights, (x, lstm_state))
        if masks is not None and masks.output is not None:
            hidden = hidden * masks.output[:, None]
        elif masks is None and self.training and self.dropout > 0:
            hidden = F.dropout(hidden, self.dropout)
        raw = self.mdn_head(hidden).unflatten(-1, (3, self.n_mixtures, self.z_dim))
        mixture = MDNOutput(
            log_pi=F.log_softmax(raw[..., 0, :, :], dim=-2),
            mu=raw[..., 1, :, :],
            log_sigma=_soft_clamp(raw[..., 2, :, :], LOG_SIGMA_MIN, LOG_SIGMA_MAX),
        )
        heads = Heads(*(head(hidden).squeeze(-1) for head in self.heads()))
        return mixture, heads, (h[0], c[0])

    def heads(self) -> tuple[nn.Linear, nn.Linear, nn.Linear]:
        return self.reward_head, self.tile_head, self.done_head

    def step(
        self, z: Tensor, a: Tensor, state: State, masks: DreamMasks | None = None
    ) -> tuple[MDNOutput, Heads, State]:
        """One step: ``z [B, z_dim]``, ``a [B, action_dim]`` -> mixture ``[B, K, z_dim]``,
        heads ``[B]``, new state."""
        mixture, heads, state = self.forward(z[:, None], a[:, None], state, masks)
        return (
            MDNOutput(*(t[:, 0] for t in mixture)),
            Heads(*(t[:, 0] for t in heads)),
            state,
        )


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


def tile_events(rewards: Tensor) -> Tensor:
    """Steps whose reward includes a new tile: CarRacing pays -0.1 per step plus 1000 / tiles
    per new tile, so only a new tile makes a step's reward positive."""
    return rewards > 0


def off_playfield(rewards: Tensor, terminations: Tensor) -> Tensor:
    """Steps that ended the episode off the playfield (the -100 step, not a finished lap)."""
    return terminations & (rewards <= OFF_PLAYFIELD_REWARD)


class MDNRNNLoss(NamedTuple):
    total: Tensor
    mdn: Tensor
    reward: Tensor
    tile: Tensor
    done: Tensor


def mdnrnn_loss(
    model: MDNRNN,
    batch: dict[str, Tensor],
    done_pos_weight: float = 10.0,
    regress_reward: bool = True,
) -> MDNRNNLoss:
    """Loss of one batch of ``episode_windows`` (tensors), with ``z`` freshly sampled.

    Sampling ``z = mu + exp(logvar / 2) * eps`` anew for every batch (as the paper does) shows
    the model the VAE's uncertainty instead of one fixed encoding per frame. The tile and
    termination heads are trained by cross-entropy on the events; the reward regression (whose
    -100 steps make squared errors of 10^4) joins the total only when ``regress_reward``.
    """
    z = batch["mu"] + torch.exp(0.5 * batch["logvar"]) * torch.randn_like(batch["mu"])
    out, heads, _ = model(z[:, :-1], batch["actions"])
    mdn = mdn_loss(out, z[:, 1:], batch["next_mask"])
    rewards, mask = batch["rewards"], batch["mask"]
    reward_loss = _masked_mean((heads.reward - rewards).pow(2), mask)
    tile = _masked_mean(_bce(heads.tile_logit, tile_events(rewards)), mask)
    ends = off_playfield(rewards, batch["terminations"])
    done = _masked_mean(_bce(heads.done_logit, ends, done_pos_weight), mask)
    total = mdn + tile + done + (reward_loss if regress_reward else 0.0)
    return MDNRNNLoss(total, mdn, reward_loss, tile, done)


def _bce(logits: Tensor, targets: Tensor, pos_weight: float = 1.0) -> Tensor:
    weight = torch.tensor(pos_weight, device=logits.device)
    return F.binary_cross_entropy_with_logits(
        logits, targets.to(logits.dtype), reduction="none", pos_weight=weight
    )


def load_mdnrnn(
    path: str | os.PathLike, config: WorldModelConfig, device: torch.device | str = "cpu"
) -> MDNRNN:
    """The MDN-RNN of a checkpoint written by M's training (``fit.train_mdnrnn``), in eval mode."""
    ckpt = load_checkpoint(
        path, expected_kind=KIND, expected_config=config.as_dict(), compare_keys=MDN_KEYS
    )
    model = build_mdnrnn(config).to(device)
    load_weights(model, ckpt["model"], path)
    return model.eval()


def build_mdnrnn(config: WorldModelConfig) -> MDNRNN:
    return MDNRNN(
        config.z_dim,
        hidden_size=config.mdn_hidden,
        n_mixtures=config.mdn_mixtures,
        dropout=config.mdn_dropout,
        recurrent_dropout=config.mdn_recurrent_dropout,
    )

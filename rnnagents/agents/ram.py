"""The Recurrent Attention Model (Mnih et al. 2014): glimpse, core, location, action, baseline.

The gradient rules here are the ones public implementations keep getting wrong:

(a) The sampled location is detached: REINFORCE reaches the location network only through
    log pi(l | mean), i.e. through the mean, never through the sample itself.
(b) Because the location fed to the next glimpse is that detached sample, the classification
    loss cannot reach the location network through it.
(c) The baseline reads h_t detached and is trained by MSE towards R; inside the advantage
    ``R - b_t`` its value is detached, so REINFORCE never trains the baseline.

Whether REINFORCE also trains the core (through the mean's dependence on h_t) is the option
``reinforce_trains_core``. The paper trains the whole network with the hybrid loss; our run
configs default to off (the location network alone learns from REINFORCE), because measured
on 60x60 cluttered MNIST the high-variance policy gradient through the core kept training at
chance level where the detached variant learned (see README, "RAM results").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from rnnagents.agents.peephole_lstm import PeepholeLSTMCell
from rnnagents.agents.ram_config import RAMModelConfig

CELL_STATE_CORES = ("lstm", "peephole-lstm")  # cores whose state is (h, c)


class GlimpseNetwork(nn.Module):
    """g = ReLU(Linear(h_g) + Linear(h_l)), h_g = ReLU(Linear(glimpse)), h_l = ReLU(Linear(l))."""

    def __init__(self, c: RAMModelConfig) -> None:
        super().__init__()
        self.what = nn.Linear(c.glimpse_pixels, c.glimpse_hidden)
        self.where = nn.Linear(2, c.location_hidden)
        self.what_out = nn.Linear(c.glimpse_hidden, c.glimpse_features)
        self.where_out = nn.Linear(c.location_hidden, c.glimpse_features)

    def forward(self, glimpse: torch.Tensor, location: torch.Tensor) -> torch.Tensor:
        h_g = F.relu(self.what(glimpse.flatten(1)))
        h_l = F.relu(self.where(location))
        return F.relu(self.what_out(h_g) + self.where_out(h_l))


class CoreNetwork(nn.Module):
    """The recurrent core: the paper's Elman ReLU RNN, an LSTM / GRU cell, or the peephole
    LSTM of ``peephole_lstm``."""

    def __init__(self, c: RAMModelConfig) -> None:
        super().__init__()
        self.kind = c.core
        if c.core == "rnn":
            self.input = nn.Linear(c.glimpse_features, c.hidden_size)
            self.recurrent = nn.Linear(c.hidden_size, c.hidden_size)
        elif c.core == "lstm":
            self.cell = nn.LSTMCell(c.glimpse_features, c.hidden_size)
        elif c.core == "peephole-lstm":
            self.cell = PeepholeLSTMCell(c.glimpse_features, c.hidden_size)
        else:
            self.cell = nn.GRUCell(c.glimpse_features, c.hidden_size)
        self.hidden_size = c.hidden_size

    def initial_state(self, batch: int, device) -> tuple[torch.Tensor, ...]:
        zeros = torch.zeros(batch, self.hidden_size, device=device)
        return (zeros, zeros.clone()) if self.kind in CELL_STATE_CORES else (zeros,)

    def forward(self, g: torch.Tensor, state: tuple[torch.Tensor, ...]):
        if self.kind == "rnn":
            h = F.relu(self.input(g) + self.recurrent(state[0]))
            return h, (h,)
        if self.kind in CELL_STATE_CORES:
            h, c = self.cell(g, state)
            return h, (h, c)
        h = self.cell(g, state[0])
        return h, (h,)


class RecurrentAttentionModel(nn.Module):
    """RAM: one ``step`` per glimpse, ``locate`` for the next location, ``classify`` at the end."""

    def __init__(self, config: RAMModelConfig) -> None:
        super().__init__()
        self.config = config
        self.glimpse_net = GlimpseNetwork(config)
        self.core = CoreNetwork(config)
        self.location_net = nn.Linear(config.hidden_size, 2)
        self.action_net = nn.Linear(config.hidden_size, config.n_classes)
        self.baseline_net = nn.Linear(config.hidden_size, 1)

    def initial_state(self, batch: int, device=None) -> tuple[torch.Tensor, ...]:
        return self.core.initial_state(batch, device or self.action_net.weight.device)

    def step(self, glimpse, location, state):
        """Fold one glimpse (taken at ``location``) into the recurrent state; returns (h, state)."""
        return self.core(self.glimpse_net(glimpse, location), state)

    def locate(self, h: torch.Tensor, generator: torch.Generator | None = None):
        """Sample the next location: (location in [-1, 1] detached, log pi, mean)."""
        location, sample, mean = self.propose(h, generator)
        return location, self.log_pi(sample, mean), mean

    def propose(self, h: torch.Tensor, generator: torch.Generator | None = None):
        """The next location without its log-probability: (location in [-1, 1] detached,
        unclipped sample detached, mean). A rollout computes ``log_pi`` for all its steps at
        once (one small op per episode instead of one per glimpse)."""
        if self.config.random_locations:
            loc = torch.rand(h.shape[0], 2, device=h.device, generator=generator) * 2 - 1
            return loc, loc, loc
        mean = torch.tanh(self.location_net(h if self.config.reinforce_trains_core else h.detach()))
        noise = torch.randn(mean.shape, device=h.device, generator=generator)
        sample = (mean + self.config.location_std * noise).detach()
        return sample.clamp(-1.0, 1.0), sample, mean

    def log_pi(self, sample: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """log pi(sample | mean) over the last axis (0 for random locations: no policy).

        The log-probability is of the unclipped sample: clipping to the env's bounds is part of
        the environment, so the policy gradient of the Gaussian stays exact.
        """
        if self.config.random_locations:
            return torch.zeros(sample.shape[:-1], device=sample.device)
        return gaussian_log_prob(sample, mean, self.config.location_std)

    def classify(self, h: torch.Tensor) -> torch.Tensor:
        return self.action_net(h)

    def baseline(self, h: torch.Tensor) -> torch.Tensor:
        return self.baseline_net(h.detach()).squeeze(-1)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, std: float) -> torch.Tensor:
    """log N(x; mean, std^2 I), summed over the 2 coordinates."""
    z = (x - mean) / std
    return (-0.5 * z.pow(2) - math.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)


@dataclass
class RAMLoss:
    total: torch.Tensor
    classification: torch.Tensor
    reinforce: torch.Tensor
    baseline: torch.Tensor


def ram_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    reward: torch.Tensor,
    log_pis: torch.Tensor,
    baselines: torch.Tensor,
    reinforce_weight: float = 1.0,
) -> RAMLoss:
    """Hybrid loss: CE(final class) + w * sum_t -log pi(l_t)(R - b_t) + MSE(b_t, R).

    ``log_pis`` and ``baselines`` are [B, T'] over the T' locations that were used to take a
    glimpse (never the last one, which no glimpse used).
    """
    classification = F.cross_entropy(logits, labels)
    if log_pis.shape[1] == 0:
        zero = logits.sum() * 0.0
        return RAMLoss(classification, classification, zero, zero)
    returns = reward[:, None].expand_as(baselines)
    advantage = returns - baselines.detach()
    reinforce = (-log_pis * advantage).sum(1).mean()
    baseline = F.mse_loss(baselines, returns)
    total = classification + reinforce_weight * reinforce + baseline
    return RAMLoss(total, classification, reinforce, baseline)

"""A trained Stable-Baselines3 model acting in one env, step by step, deterministically.

``model.predict`` is written for vectorized envs and leaves the recurrent bookkeeping to the
caller; these wrappers keep it (RecurrentPPO's LSTM state, the episode-start flag), so a PPO
run plays through the same per-frame loop (``rnnagents.envs.carracing.drive``) as every other
agent: films, real-game scoring, and the world model's real-game policy.
"""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from rnnagents.envs.carracing import ACTION_HIGH, ACTION_LOW


class SB3Policy:
    """Callable ``observation -> action`` of one env; call ``reset()`` before each episode."""

    def __init__(self, model: BaseAlgorithm) -> None:
        self.model = model
        self.reset()

    def reset(self) -> None:
        self.state: tuple[np.ndarray, ...] | None = None
        self.episode_start = np.ones(1, dtype=bool)  # RecurrentPPO zeroes its LSTM state

    def __call__(self, observation) -> np.ndarray:
        action, self.state = self.model.predict(
            observation, state=self.state, episode_start=self.episode_start, deterministic=True
        )
        self.episode_start = np.zeros(1, dtype=bool)
        return action


class LatentSB3Actor:
    """A model trained in the dream, fed ``concat(z, h)`` as ``DreamEnv`` fed it.

    Its action is clipped to CarRacing's bounds, which the dream's action space shares: the
    real car must never get an action the dream could not have taken.
    """

    def __init__(self, model: BaseAlgorithm) -> None:
        self.policy = SB3Policy(model)

    def reset(self) -> None:
        self.policy.reset()

    def __call__(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        observation = torch.cat([z[0], h[0]]).cpu().numpy().astype(np.float32)
        action = np.clip(self.policy(observation), ACTION_LOW, ACTION_HIGH)
        return torch.as_tensor(action, dtype=torch.float32, device=z.device)[None]

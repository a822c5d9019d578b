"""Wrappers that make the glimpse env a Stable-Baselines3 citizen.

SB3 supports Box/Discrete/MultiDiscrete/MultiBinary actions but not Dict ones, so the action
becomes one Box ``[x, y, s_0, ..., s_9]`` in [-1, 1]: the next glimpse location, then a score
per class; the class is the argmax of the scores (read only at the final step, as before).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import FlattenObservation

from rnnagents.envs.glimpse_task import N_CLASSES


class FlatGlimpseActions(gym.ActionWrapper):
    """Dict(location, class) -> Box(-1, 1, (2 + 10,)) for SB3's PPO and friends."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2 + N_CLASSES,), np.float32)

    def action(self, action: np.ndarray) -> dict:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape:
            raise ValueError(
                f"flat glimpse action has shape {action.shape}, expected {self.action_space.shape}"
            )
        if not np.all(np.isfinite(action)):
            raise ValueError(f"flat glimpse action contains NaN or inf: {action.tolist()}")
        return {"location": action[:2], "class": np.int64(np.argmax(action[2:]))}


def sb3_glimpse_env(env: gym.Env, flatten_observation: bool = True) -> gym.Env:
    """The glimpse env as SB3 wants it.

    With ``flatten_observation`` (for ``MlpPolicy``) the Dict observation becomes one vector
    (glimpse pixels, then location); without it the Dict stays for ``MultiInputPolicy`` (SB3
    then warns that the glimpse looks like a small float image, which is harmless: it is
    flattened by SB3's MLP extractor, not fed to a CNN).
    """
    env = FlatGlimpseActions(env)
    return FlattenObservation(env) if flatten_observation else env

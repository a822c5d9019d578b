"""Films of a PPO run at work, in the world it is judged in, for ``rnnagents watch``.

The model acts deterministically, RecurrentPPO carrying its LSTM state through the episode;
each frame is the env's render of what the model is about to act on, one per step. Glimpse
runs: the canvas with the glimpse boxes and path, on the test split. CarRacing runs: the
full-colour game, on the unseen evaluation tracks. Dream runs: V's decoding of the dream's z.
"""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np

from rnnagents.agents.sb3_policy import SB3Policy
from rnnagents.envs.carracing import ENV_ID as CARRACING_ID
from rnnagents.envs.carracing import FILM_FPS as CARRACING_FPS
from rnnagents.envs.carracing import drive, eval_track_seeds
from rnnagents.envs.carracing_sb3 import make_carracing_eval_env
from rnnagents.envs.glimpse_task import EVAL_SEED
from rnnagents.envs.registration import DREAM_ID
from rnnagents.envs.render import FILM_FPS as GLIMPSE_FPS
from rnnagents.train.ppo.config import PPORunConfig
from rnnagents.train.ppo.envs import glimpse_env
from rnnagents.train.ppo.trainer import load_ppo


def film_setting(config: PPORunConfig, episodes: int) -> tuple[gym.Env, list[int], int]:
    """The env a run is filmed in (rendering rgb_array), its episodes' seeds, the frame rate."""
    if config.env_id == CARRACING_ID:
        env = make_carracing_eval_env("rgb_array")
        return env, eval_track_seeds(episodes), CARRACING_FPS
    seeds = [EVAL_SEED + i for i in range(episodes)]
    if config.dream_run is not None:
        env = gym.make(DREAM_ID, run_dir=config.dream_run, render_mode="rgb_array")
        return env, seeds, CARRACING_FPS
    return glimpse_env(config, "test", render_mode="rgb_array"), seeds, GLIMPSE_FPS


def film(
    run_dir: str, episodes: int, max_steps: int | None = None, device: str = "auto"
) -> tuple[list[np.ndarray], int]:
    """(frames, fps) of ``episodes`` episodes, each cut at ``max_steps`` (default: its end)."""
    model, config = load_ppo(run_dir, device)
    env, seeds, fps = film_setting(config, episodes)
    policy, frames = SB3Policy(model), []

    def film_and_act(observation) -> np.ndarray:
        frames.append(env.render())
        return policy(observation)

    try:
        for seed in seeds:
            policy.reset()
            for _ in drive(env, film_and_act, seed, max_steps or sys.maxsize):
                pass
    finally:
        env.close()
    return frames, fps

"""The SB3 VecEnvs a PPO run trains and is scored in (glimpse, CarRacing-v3 or a dream), and the
spaces its model sees."""

from __future__ import annotations

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from rnnagents.envs.carracing import ENV_ID as CARRACING_ID
from rnnagents.envs.carracing_sb3 import make_carracing_eval_env, make_carracing_sb3_env
from rnnagents.envs.glimpse_sb3 import sb3_glimpse_env
from rnnagents.envs.registration import DREAM_ID
from rnnagents.train.ppo.config import PPORunConfig
from rnnagents.worldmodel import run_files


def glimpse_env(config: PPORunConfig, split: str, render_mode: str | None = None) -> gym.Env:
    """One glimpse env of ``split`` as the run's model sees it (flat or Dict observation)."""
    kwargs = {"split": split, "render_mode": render_mode}
    if config.data_dir is not None:
        kwargs["data_dir"] = config.data_dir
    env = gym.make(config.env_id, **kwargs)
    return sb3_glimpse_env(env, flatten_observation=not config.dict_obs)


def glimpse_vec_env(config: PPORunConfig, split: str, n_envs: int, seed: int) -> VecEnv:
    """``n_envs`` single glimpse envs in a DummyVecEnv, seeded ``seed, seed + 1, ...``.

    Our native vector env is a gymnasium VectorEnv, not an SB3 VecEnv, so SB3 gets single envs.
    """
    return make_vec_env(lambda: glimpse_env(config, split), n_envs=n_envs, seed=seed)


def dream_vec_env(run_dir: str, n_envs: int, seed: int) -> VecEnv:
    """``n_envs`` dreams of a world-model run, sharing one copy of V and M."""
    vae, mdnrnn, start_latents = run_files.load_dream_parts(run_dir)

    def make() -> gym.Env:
        return gym.make(DREAM_ID, vae=vae, mdnrnn=mdnrnn, start_latents=start_latents)

    return make_vec_env(make, n_envs=n_envs, seed=seed, vec_env_cls=DummyVecEnv)


def make_train_env(config: PPORunConfig) -> VecEnv:
    """The SB3 VecEnv a run trains in (glimpse ids: the training split)."""
    if config.env_id == CARRACING_ID:
        return make_carracing_sb3_env(config.n_envs, config.seed)
    if config.dream_run is not None:
        return dream_vec_env(config.dream_run, config.n_envs, config.seed)
    return glimpse_vec_env(config, "train", config.n_envs, config.seed)


def run_spaces(config: PPORunConfig) -> tuple[gym.Space, gym.Space]:
    """(observation, action) spaces of the envs the run trained in, rebuilt from its config
    (so loading a model never needs the spaces pickled inside it)."""
    if config.env_id == CARRACING_ID:
        env = make_carracing_eval_env()  # the observation make_carracing_sb3_env gave it
    elif config.dream_run is not None:
        vae, mdnrnn, start_latents = run_files.load_dream_parts(config.dream_run)
        env = gym.make(DREAM_ID, vae=vae, mdnrnn=mdnrnn, start_latents=start_latents)
    else:
        env = glimpse_env(config, "test")
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()

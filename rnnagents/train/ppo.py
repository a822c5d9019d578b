"""PPO and recurrent PPO (Stable-Baselines3, sb3-contrib) on our envs: train, load, evaluate.

Three kinds of env id: a glimpse id (``rnnagents/MNIST28-v0`` ...), ``CarRacing-v3`` (RL Zoo
preprocessing, training tracks only) and ``dream:RUN_DIR`` (the dream of a world-model run).
The SB3 policy follows the observation: ``Mlp`` for vectors (the flattened glimpse, the dream's
``[z, h]``), ``MultiInput`` for the Dict glimpse (``dict_obs``), ``Cnn`` for CarRacing frames;
``recurrent`` swaps PPO for sb3-contrib's RecurrentPPO and ``...Policy`` for ``...LstmPolicy``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from rnnagents.envs.carracing import ENV_ID as CARRACING_ID
from rnnagents.envs.carracing_sb3 import check_train_seeds, make_carracing_sb3_env
from rnnagents.envs.registration import DREAM_ID, ENTRY
from rnnagents.envs.sb3 import sb3_glimpse_env
from rnnagents.train.config import from_dict, resolve_device
from rnnagents.train.ram_eval import EVAL_SEED
from rnnagents.train.run_dir import read_run_config, start_run_dir
from rnnagents.train.run_logger import RunLogger
from rnnagents.train.sb3_callback import ProgressBar, attach_run_logger
from rnnagents.train.stats import wilson_interval

AGENT = "ppo"
MODEL_FILE = "model.zip"
DREAM_PREFIX = "dream:"
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def is_glimpse_id(env_id: str) -> bool:
    """A registered id made by the glimpse env (the presets, or ids registered like them)."""
    return env_id in gym.registry and gym.registry[env_id].entry_point == ENTRY


@dataclass(frozen=True)
class PPORunConfig:
    """Everything a PPO run depends on; ``None`` sizes mean the algorithm's defaults
    (PPO: 2048 steps, minibatch 64; RecurrentPPO: 128 and 128)."""

    env_id: str  # a glimpse id, "CarRacing-v3" or "dream:RUN_DIR"
    recurrent: bool = False  # RecurrentPPO with an LSTM policy
    timesteps: int = 100_000  # environment steps, all sub-envs together
    n_envs: int = 8
    seed: int = 0
    device: str = "auto"
    n_steps: int | None = None  # steps per sub-env per rollout
    batch_size: int | None = None  # minibatch size of the PPO update
    learning_rate: float = 3e-4
    data_dir: str | None = None  # glimpse ids: MNIST-format IDX files
    dict_obs: bool = False  # glimpse ids: Dict observation + MultiInputPolicy

    def __post_init__(self) -> None:
        glimpse = is_glimpse_id(self.env_id)
        dream = self.env_id.startswith(DREAM_PREFIX) and self.env_id != DREAM_PREFIX
        if not (glimpse or dream or self.env_id == CARRACING_ID):
            raise ValueError(
                f"unknown env {self.env_id!r}: expected a glimpse id "
                f"(`rnnagents env list`), {CARRACING_ID!r} or '{DREAM_PREFIX}RUN_DIR'"
            )
        if not glimpse and (self.dict_obs or self.data_dir is not None):
            raise ValueError("dict_obs and data_dir apply to glimpse envs only")
        for name in ("timesteps", "n_envs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.env_id == CARRACING_ID:
            check_train_seeds(self.seed, self.n_envs)
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        # PPO normalizes advantages over a rollout and a minibatch: both need 2 samples or more.
        if self.n_steps is not None and (self.n_steps < 1 or self.n_steps * self.n_envs < 2):
            raise ValueError(f"need n_steps >= 1 and n_steps * n_envs >= 2, got {self.n_steps}")
        if self.batch_size is not None and self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
        if not _DEVICE.fullmatch(self.device):
            raise ValueError(f"unknown device {self.device!r}; use auto, cpu or cuda[:N]")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def dream_run(self) -> str | None:
        """The world-model run whose dream this run trains in; ``None`` for other envs."""
        if not self.env_id.startswith(DREAM_PREFIX):
            return None
        return self.env_id.removeprefix(DREAM_PREFIX)


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
    from rnnagents.worldmodel.load import load_dream_parts

    vae, mdnrnn, start_latents = load_dream_parts(run_dir)

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


def policy_name(observation_space: spaces.Space, recurrent: bool) -> str:
    """SB3's policy name for an observation space: Mlp, MultiInput or Cnn, Lstm if recurrent."""
    if isinstance(observation_space, spaces.Dict):
        base = "MultiInput"
    elif is_image_space(observation_space):
        base = "Cnn"
    else:
        base = "Mlp"
    return f"{base}{'Lstm' if recurrent else ''}Policy"


def algorithm(recurrent: bool) -> type[BaseAlgorithm]:
    return RecurrentPPO if recurrent else PPO


def train_ppo(
    config: PPORunConfig, run_dir: str | os.PathLike, *, wandb: bool = False, progress: bool = True
) -> Path:
    """Train a new run in ``run_dir``; it ends holding ``config.json``, ``metrics.jsonl`` and
    ``model.zip`` (SB3's own format, loaded by :func:`load_ppo`)."""
    device = resolve_device(config.device)  # a clear error before anything is made
    env = make_train_env(config)
    try:
        run_dir = start_run_dir(run_dir, config.as_dict(), AGENT)
        sizes = {"n_steps": config.n_steps, "batch_size": config.batch_size}
        model = algorithm(config.recurrent)(
            policy_name(env.observation_space, config.recurrent),
            env,
            learning_rate=config.learning_rate,
            seed=config.seed,
            device=device,
            **{name: value for name, value in sizes.items() if value is not None},
        )
        with RunLogger(
            run_dir, config.as_dict(), wandb=wandb, run_name=run_dir.name, project="rnnagents-ppo"
        ) as logger:
            attach_run_logger(model, logger)
            model.learn(config.timesteps, callback=ProgressBar() if progress else None)
            model.logger.dump(model.num_timesteps)  # the last update's train/* values
            model.save(run_dir / MODEL_FILE)
            logger.log_artifact(run_dir / MODEL_FILE, name="ppo-model")
    finally:
        env.close()
    return run_dir


def trained_ppo_config(run_dir: str | os.PathLike) -> PPORunConfig:
    """The config of a PPO run that finished training (checked without loading the model)."""
    agent, data = read_run_config(run_dir)
    if agent != AGENT:
        raise ValueError(f"{run_dir} holds a {agent!r} run, not a {AGENT!r} one")
    path = Path(run_dir) / MODEL_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the run did not finish training")
    return from_dict(PPORunConfig, data)


def load_ppo(
    run_dir: str | os.PathLike, device: str = "auto"
) -> tuple[BaseAlgorithm, PPORunConfig]:
    """The trained model of a PPO run and its config."""
    config = trained_ppo_config(run_dir)
    model = algorithm(config.recurrent).load(
        Path(run_dir) / MODEL_FILE, device=resolve_device(device)
    )
    return model, config


def evaluate_ppo_glimpse(
    model: BaseAlgorithm,
    config: PPORunConfig,
    split: str = "test",
    episodes: int = 1000,
    batch_size: int = 250,
    seed: int = EVAL_SEED,
) -> dict:
    """Error rate on ``episodes`` episodes of ``split``, one sampled action per step (M=1).

    Sub-env ``i`` is seeded ``seed + i`` and counts its episodes ``i, i + n, ...``: the
    episodes (canvases and digits) ``evaluate_ram`` plays with the same ``batch_size``, so PPO
    and RAM errors are measured on the same test episodes. Sampling is seeded too, without
    touching torch's global generator.
    """
    if not is_glimpse_id(config.env_id):
        raise ValueError(f"evaluate_ppo_glimpse needs a glimpse env, not {config.env_id!r}")
    if episodes < 1 or batch_size < 1:
        raise ValueError(f"need episodes >= 1 and batch_size >= 1, got {episodes}, {batch_size}")
    n = min(batch_size, episodes)
    quota = np.array([len(range(i, episodes, n)) for i in range(n)])
    wrong, played = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    envs = glimpse_vec_env(config, split, n, seed)
    obs, state, episode_start = envs.reset(), None, np.ones(n, dtype=bool)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        while (played < quota).any():
            action, state = model.predict(
                obs, state=state, episode_start=episode_start, deterministic=False
            )
            obs, reward, episode_start, _ = envs.step(action)
            counted = episode_start & (played < quota)
            wrong += counted & (reward < 0.5)  # reward 1 for the right class, at the last step
            played += episode_start
    envs.close()
    low, high = wilson_interval(int(wrong.sum()), episodes)
    return {
        "split": split,
        "episodes": episodes,
        "error": int(wrong.sum()) / episodes,
        "error_ci95": [low, high],
    }

"""PPO and recurrent PPO (Stable-Baselines3, sb3-contrib) on our envs: train and load a run.

Three kinds of env id: a glimpse id (``rnnagents/MNIST28-v0`` ...), ``CarRacing-v3`` (RL Zoo
preprocessing, training tracks only) and ``dream:RUN_DIR`` (the dream of a world-model run).
The SB3 policy follows the observation: ``Mlp`` for vectors (the flattened glimpse, the dream's
``[z, h]``), ``MultiInput`` for the Dict glimpse (``dict_obs``), ``Cnn`` for CarRacing frames;
``recurrent`` swaps PPO for sb3-contrib's RecurrentPPO and ``...Policy`` for ``...LstmPolicy``.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from gymnasium import spaces
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.preprocessing import is_image_space

from rnnagents.common.device import resolve_device
from rnnagents.common.files import atomic_path
from rnnagents.common.run_dir import CONFIG_FILE, locked, read_run, start_run_dir
from rnnagents.common.run_logger import RunLogger
from rnnagents.train.ppo.config import AGENT, PPORunConfig
from rnnagents.train.ppo.envs import make_train_env, run_spaces
from rnnagents.train.ppo.sb3_logging import ProgressBar, attach_run_logger

MODEL_FILE = "model.zip"
PICKLED = ":serialized:"  # how SB3 marks a cloudpickled entry of a model file's data
# The pickled entries an rnnagents PPO model file holds (SB3 2.x), and how each is rebuilt:
# spaces from the run's env, the policy class from its name, the two schedules from their
# constants; the rest are training leftovers a loaded model does not need (None).
REBUILT = (
    "observation_space", "action_space", "policy_class", "clip_range", "lr_schedule",
    "rollout_buffer_class", "_last_obs", "_last_episode_starts", "ep_info_buffer",
    "ep_success_buffer",
)  # fmt: skip


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
    ``model.zip`` (SB3's own format, loaded by :func:`load_ppo`, written atomically)."""
    device = resolve_device(config.device)  # clear errors before anything is written
    env = make_train_env(config)
    try:
        with locked(run_dir) as run_dir:
            if (run_dir / CONFIG_FILE).exists() and not (run_dir / MODEL_FILE).exists():
                raise FileExistsError(
                    f"{run_dir} holds a PPO run that never finished (no {MODEL_FILE}); PPO runs "
                    "do not resume: remove that folder or choose another --run-dir"
                )
            start_run_dir(run_dir, config.as_dict(), AGENT)
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
                run_dir,
                config.as_dict(),
                wandb=wandb,
                run_name=run_dir.name,
                project="rnnagents-ppo",
            ) as logger:
                attach_run_logger(model, logger)
                model.learn(config.timesteps, callback=ProgressBar() if progress else None)
                model.logger.dump(model.num_timesteps)  # the last update's train/* values
                with atomic_path(run_dir / MODEL_FILE, suffix=".zip") as tmp_name:
                    model.save(tmp_name)
                logger.log_artifact(run_dir / MODEL_FILE, name="ppo-model")
    finally:
        env.close()
    return run_dir


def trained_ppo_config(run_dir: str | os.PathLike) -> PPORunConfig:
    """The config of a PPO run that finished training (checked without loading the model)."""
    config = read_run(run_dir, AGENT, PPORunConfig)
    path = Path(run_dir) / MODEL_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the run did not finish training")
    return config


def safe_load_objects(config: PPORunConfig, data: bytes, path: Path) -> dict[str, Any]:
    """Every object SB3 would unpickle from a model file's ``data`` entry (cloudpickle: it can
    run code), rebuilt from the run's config instead; a file holding any other pickled object
    is refused (``path`` names the file in errors).

    The weights themselves SB3 reads with ``torch.load(weights_only=True)``.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            data = json.loads(archive.read("data"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not an SB3 model file: {err}") from err
    pickled = {key for key, value in data.items() if isinstance(value, dict) and PICKLED in value}
    foreign = sorted(pickled - set(REBUILT))
    if foreign:
        raise ValueError(
            f"{path} holds pickled Python objects {foreign}, which no rnnagents PPO run writes; "
            "refusing to load it (unpickling can run code)"
        )
    observation_space, action_space = run_spaces(config)
    cls = algorithm(config.recurrent)
    rebuilt = {
        "observation_space": observation_space,
        "action_space": action_space,
        "policy_class": cls.policy_aliases[policy_name(observation_space, config.recurrent)],
        "clip_range": inspect.signature(cls).parameters["clip_range"].default,
        "lr_schedule": config.learning_rate,  # SB3 rebuilds the schedule from learning_rate
    }
    return {key: rebuilt.get(key) for key in pickled}  # the rest (buffers, last obs): None


def load_ppo(
    run_dir: str | os.PathLike, device: str = "auto"
) -> tuple[BaseAlgorithm, PPORunConfig]:
    """The trained model of a PPO run and its config, loaded without unpickling anything."""
    config = trained_ppo_config(run_dir)
    path = Path(run_dir) / MODEL_FILE
    return ppo_from_bytes(path.read_bytes(), config, device, path), config


def ppo_from_bytes(
    data: bytes, config: PPORunConfig, device: str = "auto", path: Path = Path(MODEL_FILE)
) -> BaseAlgorithm:
    """The model in ``data`` (a ``model.zip``'s bytes, from ``path``) of a run with ``config``,
    loaded without unpickling anything: what a worker that cannot see the run directory uses."""
    custom_objects = safe_load_objects(config, data, path)
    return algorithm(config.recurrent).load(
        io.BytesIO(data), device=resolve_device(device), custom_objects=custom_objects
    )

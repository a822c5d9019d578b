"""Scoring policies in the real CarRacing-v3, one episode per executor task.

Everything real-env that is not collection goes through here (the controller's real checks
during CMA-ES, final evaluation, baselines, PPO runs trained on CarRacing or in a dream), so all
policies are scored by the same code.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import gymnasium as gym
import numpy as np

from rnnagents.agents.exploration import BrownianPolicy, Policy, UniformRandomPolicy
from rnnagents.agents.worldmodel_policy import ControllerActor, WorldModelPolicy
from rnnagents.envs.carracing import ENV_ID, drive, make_carracing
from rnnagents.worldmodel import run_files
from rnnagents.worldmodel.executor import Executor

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

    from rnnagents.train.ppo import PPORunConfig

POLICIES = ("controller", "random", "exploration", "ppo")


@dataclass(frozen=True)
class RealEpisodeTask:
    """One real episode to score (picklable, for worker processes)."""

    policy: str  # one of POLICIES
    track_seed: int
    max_steps: int
    run_dir: str | None = None  # "controller": the world-model run (V, M); "ppo": the PPO run
    params: tuple[float, ...] | None = field(default=None, repr=False)  # controller weights


@functools.lru_cache(maxsize=2)
def _world_model(run_dir: str, weights_stamp: tuple[int, ...]):
    """V and M of a run, loaded once per process for as long as their files are unchanged."""
    from rnnagents.worldmodel.load import load_dream_parts

    vae, mdnrnn, _ = load_dream_parts(run_dir)
    return vae, mdnrnn


def _weights_stamp(run_dir: str) -> tuple[int, ...]:
    """Modification times of V's and M's checkpoints: a retrained model is loaded afresh."""
    return tuple(
        os.stat(Path(run_dir) / name).st_mtime_ns for name in (run_files.VAE, run_files.MDNRNN)
    )


def controller_policy(run_dir: str, params: tuple[float, ...]) -> WorldModelPolicy:
    """The run's current V and M driven by controller ``params`` (V and M cached per process)."""
    vae, mdnrnn = _world_model(run_dir, _weights_stamp(run_dir))
    return WorldModelPolicy(vae, mdnrnn, ControllerActor(np.asarray(params, dtype=np.float32)))


@functools.lru_cache(maxsize=2)
def _ppo_run(run_dir: str, model_stamp: int):
    """A PPO run's model (on the CPU: one frame at a time) and config, loaded once per process."""
    # Imported here, as every PPO import below: rnnagents.train.ppo imports the collect module,
    # which imports this one; and collection workers need not load SB3.
    from rnnagents.train.ppo import load_ppo

    return load_ppo(run_dir, device="cpu")


def ppo_run(run_dir: str) -> tuple[BaseAlgorithm, PPORunConfig]:
    """(model, config) of a PPO run, reloaded when its model file changes."""
    from rnnagents.train.ppo import MODEL_FILE

    return _ppo_run(run_dir, os.stat(Path(run_dir) / MODEL_FILE).st_mtime_ns)


def ppo_policy(run_dir: str) -> Policy:
    """A PPO run in the real game, seeing what it trained on.

    CarRacing runs act on the RL Zoo observation of :func:`real_env`; dream runs on
    ``[z, h]`` from their world model's V and M, exactly as the controller does.
    """
    from rnnagents.agents.sb3_policy import LatentSB3Actor, SB3Policy

    model, config = ppo_run(run_dir)
    if config.env_id == ENV_ID:
        return SB3Policy(model)
    if config.dream_run is None:
        raise ValueError(
            f"{run_dir} trained on {config.env_id!r}: only CarRacing and dream runs play the game"
        )
    vae, mdnrnn = _world_model(config.dream_run, _weights_stamp(config.dream_run))
    return WorldModelPolicy(vae, mdnrnn, LatentSB3Actor(model))


def real_env(task: RealEpisodeTask) -> gym.Env:
    """World Models' 64x64 frames, or the RL Zoo observation for a PPO trained on CarRacing."""
    if task.policy == "ppo" and ppo_run(task.run_dir)[1].env_id == ENV_ID:
        from rnnagents.envs.carracing_sb3 import make_carracing_eval_env

        return make_carracing_eval_env()
    return make_carracing()


def make_policy(task: RealEpisodeTask):
    if task.policy == "controller":
        return controller_policy(task.run_dir, task.params)
    if task.policy == "ppo":
        return ppo_policy(task.run_dir)
    rng = np.random.default_rng([7, task.track_seed])
    if task.policy == "random":
        return UniformRandomPolicy(rng)
    if task.policy == "exploration":
        return BrownianPolicy(rng)
    raise ValueError(f"unknown policy {task.policy!r}; expected one of {POLICIES}")


def real_episode_return(task: RealEpisodeTask) -> float:
    """Play one real episode on track ``task.track_seed``; its total reward."""
    env = real_env(task)
    try:
        policy = make_policy(task)
        return float(
            sum(step.reward for step in drive(env, policy, task.track_seed, task.max_steps))
        )
    finally:
        env.close()


def score_real(
    executor: Executor,
    policy: str,
    track_seeds: list[int],
    max_steps: int,
    run_dir: str | None = None,
    params: np.ndarray | None = None,
) -> list[float]:
    """Returns of ``policy`` on each track, played in parallel through ``executor``."""
    frozen = None if params is None else tuple(float(p) for p in params)
    tasks = [
        RealEpisodeTask(policy, seed, max_steps, None if run_dir is None else str(run_dir), frozen)
        for seed in track_seeds
    ]
    return executor.map(real_episode_return, tasks)

"""Scoring policies in the real CarRacing-v3, one episode per executor task.

Everything real-env that is not collection goes through here (the controller's real checks
during CMA-ES, final evaluation, baselines), so all policies are scored by the same code.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnagents.agents.exploration import BrownianPolicy, UniformRandomPolicy
from rnnagents.agents.worldmodel_policy import WorldModelPolicy
from rnnagents.envs.carracing import drive, make_carracing
from rnnagents.worldmodel import run_files
from rnnagents.worldmodel.executor import Executor

POLICIES = ("controller", "random", "exploration")


@dataclass(frozen=True)
class RealEpisodeTask:
    """One real episode to score (picklable, for worker processes)."""

    policy: str  # one of POLICIES
    track_seed: int
    max_steps: int
    run_dir: str | None = None  # world-model run: V and M for the "controller" policy
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


def make_policy(task: RealEpisodeTask):
    if task.policy == "controller":
        vae, mdnrnn = _world_model(task.run_dir, _weights_stamp(task.run_dir))
        return WorldModelPolicy(vae, mdnrnn, np.asarray(task.params, dtype=np.float32))
    rng = np.random.default_rng([7, task.track_seed])
    if task.policy == "random":
        return UniformRandomPolicy(rng)
    if task.policy == "exploration":
        return BrownianPolicy(rng)
    raise ValueError(f"unknown policy {task.policy!r}; expected one of {POLICIES}")


def real_episode_return(task: RealEpisodeTask) -> float:
    """Play one real episode on track ``task.track_seed``; its total reward."""
    env = make_carracing()
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

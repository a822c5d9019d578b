"""Scoring any policy in the real CarRacing-v3, one episode per executor task.

Everything real-env that is not collection goes through :func:`score_real` (the controller's
real checks during CMA-ES, final evaluation, its baselines, PPO runs trained on CarRacing or in
a dream), so every policy is scored by the same code on the same tracks. The caller hands in
*factories*, not names: ``make_policy(rng)`` builds the policy inside the worker (seeded from the
track, for random policies) and ``make_env()`` its env; both must pickle (a top-level function,
a class, or a frozen dataclass such as ``ControllerFactory``), since workers are processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from rnnagents.agents.exploration import Policy
from rnnagents.common.executor import Executor
from rnnagents.envs.carracing import drive, make_carracing

PolicyFactory = Callable[[np.random.Generator], Policy]
EnvFactory = Callable[[], gym.Env]
POLICY_SEED = 7  # random policies draw from (POLICY_SEED, track seed): same track, same actions


@dataclass(frozen=True)
class RealEpisode:
    """One real episode to score (picklable, for worker processes)."""

    make_policy: PolicyFactory
    make_env: EnvFactory
    track_seed: int
    max_steps: int


def real_episode_return(task: RealEpisode) -> float:
    """Play one real episode on track ``task.track_seed``; its total reward."""
    env = task.make_env()
    try:
        policy = task.make_policy(np.random.default_rng([POLICY_SEED, task.track_seed]))
        steps = drive(env, policy, task.track_seed, task.max_steps)
        return float(sum(step.reward for step in steps))
    finally:
        env.close()


def score_real(
    executor: Executor,
    make_policy: PolicyFactory,
    track_seeds: list[int],
    max_steps: int,
    make_env: EnvFactory = make_carracing,
) -> list[float]:
    """Returns of the policy on each track, played in parallel through ``executor``."""
    tasks = [RealEpisode(make_policy, make_env, seed, max_steps) for seed in track_seeds]
    return executor.map(real_episode_return, tasks)

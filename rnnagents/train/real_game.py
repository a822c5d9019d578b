"""Scoring any policy in the real CarRacing-v3, one episode per executor task.

Everything real-env that is not collection goes through :func:`score_real` (the controller's
real checks during CMA-ES, final evaluation, its baselines, PPO runs trained on CarRacing or in
a dream), so every policy is scored by the same code on the same tracks. The caller hands in
*factories*, not names: ``make_policy(rng)`` builds the policy inside the worker (seeded from the
track, for random policies) and ``make_env()`` its env; both must pickle (a top-level function,
a class, or a frozen dataclass such as ``ControllerFactory``), since workers are processes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from rnnagents.agents.exploration import Policy
from rnnagents.common.executor import Executor
from rnnagents.common.files import atomic_file
from rnnagents.envs.carracing import Step, drive, make_carracing

PolicyFactory = Callable[[np.random.Generator], Policy]
EnvFactory = Callable[[], gym.Env]
PROGRESS_FILE = "eval_progress.jsonl"  # a run's evaluation under way: its finished episodes
POLICY_SEED = 7  # random policies draw from (POLICY_SEED, track seed): same track, same actions


@dataclass(frozen=True)
class RealGame:
    """Plays one real episode per track seed: the executor's task, called with the seed.

    It carries the policy factory (a controller's or PPO model's weights included), so an
    executor sends it once per map and the items stay small (track seeds).
    """

    make_policy: PolicyFactory
    make_env: EnvFactory
    max_steps: int

    def __call__(self, track_seed: int) -> float:
        """The total reward of one episode on track ``track_seed``."""
        env = self.make_env()
        try:
            return float(sum(step.reward for step in self.episode(env, track_seed)))
        finally:
            env.close()

    def episode(self, env: gym.Env, track_seed: int) -> Iterator[Step]:
        """The steps of the episode this game scores on ``track_seed``, played in ``env``: a
        film of it shows the very episode that was scored."""
        policy = self.make_policy(np.random.default_rng([POLICY_SEED, track_seed]))
        return drive(env, policy, track_seed, self.max_steps)


class ScoreJournal:
    """Every finished episode of an evaluation, one JSON line each, so a cut-short evaluation
    resumes instead of starting over.

    The first line holds ``key``, a digest of what is evaluated (controller weights, the world
    model's files, episode length): a journal of anything else is discarded, never mixed in.
    A line cut short by a crash is dropped. Delete the journal once the report is written.
    """

    def __init__(self, path: str | os.PathLike, key: str) -> None:
        self.path = Path(path)
        self.results: dict[tuple[str, int], float] = {}
        data = self.path.read_bytes() if self.path.exists() else b""
        if data and not data.endswith(b"\n"):  # a line cut by a crash: later lines follow it
            data = data[: data.rfind(b"\n") + 1]
            with atomic_file(self.path) as file:
                file.write(data)
        lines = data.decode().split("\n")[:-1]
        if lines and json.loads(lines[0]).get("key") == key:
            for line in lines[1:]:
                entry = json.loads(line)
                self.results[(entry["policy"], entry["track"])] = entry["return"]
        else:
            with atomic_file(self.path) as file:
                file.write((json.dumps({"key": key}) + "\n").encode())

    def record(self, policy: str, track: int, episode_return: float) -> None:
        self.results[(policy, track)] = episode_return
        with self.path.open("a") as file:
            file.write(json.dumps({"policy": policy, "track": track, "return": episode_return}))
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())


def score_real(
    executor: Executor,
    make_policy: PolicyFactory,
    track_seeds: list[int],
    max_steps: int,
    make_env: EnvFactory = make_carracing,
    journal: ScoreJournal | None = None,
    name: str = "agent",
    progress: bool = False,
) -> list[float]:
    """Returns of the policy on each track, played in parallel through ``executor``.

    With a ``journal``, episodes it already holds for ``name`` are not played again and every
    new one is recorded there as soon as it finishes. ``progress``: a bar over episodes.
    """
    done = {} if journal is None else journal.results
    todo = [seed for seed in track_seeds if (name, seed) not in done]
    returns = {seed: done[(name, seed)] for seed in track_seeds if (name, seed) in done}
    game = RealGame(make_policy, make_env, max_steps)
    shown = {"desc": name, "unit": "episode", "disable": not progress}
    with tqdm(total=len(track_seeds), initial=len(returns), **shown) as bar:
        for index, episode_return in executor.completed(game, todo):
            returns[todo[index]] = episode_return
            if journal is not None:
                journal.record(name, todo[index], episode_return)
            bar.update()
            bar.set_postfix(mean=f"{np.mean(list(returns.values())):.1f}")
    return [returns[seed] for seed in track_seeds]

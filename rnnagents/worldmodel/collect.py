"""Collect stage: real CarRacing-v3 episodes of the exploration policy, one shard each.

Training data only ever drives training tracks (``rnnagents.envs.carracing``'s seed ranges),
so a controller is never scored on a track its world model was trained on. Each episode is an
independent task (it builds its own env and policy, seeded from its track seed), so the result
does not depend on how many workers ran it, and a collect that was interrupted resumes by
skipping the shards already complete.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from rnnagents.agents.exploration import BrownianPolicy, Policy, TrackFollowerPolicy
from rnnagents.common.executor import Executor
from rnnagents.common.files import atomic_write_bytes, write_json
from rnnagents.envs.carracing import (
    EVAL_TRACK_SEEDS_START,
    TRAIN_TRACK_SEEDS_START,
    drive,
    make_carracing,
    train_track_seeds,
)
from rnnagents.worldmodel.policy import ControllerFactory
from rnnagents.worldmodel.shards import ShardError, encode_shard, read_shard, shard_path

SUMMARY_FILE = "collect_summary.json"


def summary_file(iteration: int) -> str:
    """The collect summary of round ``iteration`` (round 0: the exploration policy's)."""
    return SUMMARY_FILE if iteration == 0 else f"collect_summary-{iteration}.json"


def episode_name(track_seed: int) -> str:
    return f"episode_{track_seed:07d}"


@dataclass(frozen=True)
class EpisodeTask:
    """One episode to play (picklable and small; no path: the driver writes)."""

    track_seed: int
    max_steps: int
    policy_seed: int
    follow_noise: float | None = None  # not None: TrackFollowerPolicy with this noise


def follower_episodes(episodes: int, fraction: float) -> list[bool]:
    """Which of ``episodes`` the track follower drives: ``fraction`` of them, spread evenly."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    return [int((k + 1) * fraction) > int(k * fraction) for k in range(episodes)]


@dataclass(frozen=True)
class EpisodeCollector:
    """The executor's task: plays an :class:`EpisodeTask` and returns its summary and shard's
    bytes. It carries the controller (weights and all) when one explores, so an executor sends
    that once per collection, not once per episode.

    The worker never touches the run directory, so collection works on a cluster without a
    shared filesystem, and a worker that dies loses at most its own episode.
    """

    controller: ControllerFactory | None = None  # None: an exploration policy

    def __call__(self, task: EpisodeTask) -> tuple[dict, bytes]:
        env = make_carracing()
        policy = self._policy(task, env)
        try:
            steps = list(drive(env, policy, task.track_seed, task.max_steps))
        finally:
            env.close()
        episode = {
            "frames": np.stack([step.frame for step in steps]),
            "actions": np.stack([step.action for step in steps]),
            "rewards": np.array([step.reward for step in steps], dtype=np.float32),
            "terminations": np.array([step.terminated for step in steps], dtype=bool),
            "episode_seed": task.track_seed,
        }
        return _summary(task.track_seed, episode), encode_shard(episode)

    def _policy(self, task: EpisodeTask, env) -> Policy:
        rng = np.random.default_rng([task.policy_seed, task.track_seed])
        if task.follow_noise is not None:
            return TrackFollowerPolicy(rng, env, task.follow_noise)
        if self.controller is None:
            return BrownianPolicy(rng)
        return self.controller(rng)


def _summary(track_seed: int, episode: dict) -> dict:
    return {
        "track_seed": track_seed,
        "steps": len(episode["actions"]),
        "return": float(np.sum(episode["rewards"], dtype=np.float64)),
        "terminated": bool(episode["terminations"][-1]),
    }


def _existing_summary(out_dir: Path, track_seed: int) -> dict | None:
    """The summary of an already complete shard, or None when it must be (re)collected."""
    path = shard_path(out_dir, episode_name(track_seed))
    if not path.exists():
        return None
    try:
        return _summary(track_seed, read_shard(path))
    except ShardError as err:
        tqdm.write(f"recollecting {path.name}: {err}")
        return None


def collect(
    out_dir: str | os.PathLike,
    episodes: int,
    max_steps: int,
    seeds: Sequence[int] | None,
    executor: Executor,
    progress: bool = True,
    policy_seed: int = 0,
    controller: ControllerFactory | None = None,
    summary_file: str = SUMMARY_FILE,
    follow_fraction: float = 0.0,
    follow_noise: float = 0.3,
) -> dict:
    """Collect ``episodes`` exploration episodes of at most ``max_steps`` into ``out_dir``.

    ``seeds`` are the track seeds, one per episode (None: the first ``episodes`` training
    seeds); evaluation seeds are refused. Episodes whose shard is already complete are skipped.
    ``controller`` drives instead of the Brownian policy (iterative training); otherwise
    ``follow_fraction`` of the episodes are driven by the privileged ``TrackFollowerPolicy``
    with OU noise ``follow_noise`` and the rest by the Brownian policy. Writes
    ``summary_file`` and returns it: every episode's steps and return (the exploration
    policy's score distribution) plus their mean/std/min/max.
    """
    seeds = train_track_seeds(episodes) if seeds is None else [int(s) for s in seeds]
    if len(seeds) != episodes or len(set(seeds)) != episodes:
        raise ValueError(f"need {episodes} distinct track seeds, got {len(set(seeds))}")
    outside = [s for s in seeds if not TRAIN_TRACK_SEEDS_START <= s < EVAL_TRACK_SEEDS_START]
    if outside:
        raise ValueError(
            f"track seeds {outside[:5]} are outside the training range "
            f"[{TRAIN_TRACK_SEEDS_START}, {EVAL_TRACK_SEEDS_START})"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries = {seed: _existing_summary(out_dir, seed) for seed in seeds}
    follows = follower_episodes(episodes, 0.0 if controller else follow_fraction)
    todo = [
        EpisodeTask(seed, max_steps, policy_seed, follow_noise if follow else None)
        for (seed, summary), follow in zip(summaries.items(), follows, strict=True)
        if summary is None
    ]
    bar = tqdm(
        total=episodes,
        initial=episodes - len(todo),
        desc="collect",
        unit="episode",
        disable=not progress,
    )
    collected_steps = 0
    start = time.perf_counter()
    try:
        for _, (result, shard) in executor.completed(EpisodeCollector(controller), todo):
            atomic_write_bytes(shard_path(out_dir, episode_name(result["track_seed"])), shard)
            summaries[result["track_seed"]] = result
            collected_steps += result["steps"]
            bar.update()
            bar.set_postfix(steps_per_s=f"{collected_steps / (time.perf_counter() - start):.0f}")
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    summary = _aggregate([summaries[seed] for seed in seeds])
    summary.update(
        {
            "max_steps": max_steps,
            "policy_seed": policy_seed,
            "collected_now": len(todo),
            "collected_steps_per_s": collected_steps / seconds if todo else None,
        }
    )
    write_json(out_dir / summary_file, summary)
    return summary


def _aggregate(episodes: list[dict]) -> dict:
    returns = np.array([e["return"] for e in episodes])
    return {
        "episodes": episodes,
        "track_seeds": [e["track_seed"] for e in episodes],
        "total_steps": int(sum(e["steps"] for e in episodes)),
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "return_min": float(returns.min()),
        "return_max": float(returns.max()),
    }

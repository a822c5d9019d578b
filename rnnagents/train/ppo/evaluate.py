"""Scoring a PPO run where it is judged: glimpse runs by test error, CarRacing and dream runs
in the real game.

Real-game runs are scored like the World Models agent (``rnnagents.train.worldmodel.evaluate``):
the same unseen evaluation tracks, one episode per executor task through ``score_real``, the same
summary. So "PPO on frames", "PPO in the dream" and "CMA-ES in the dream" are numbers one can
compare. Either report goes to ``RUN_DIR/eval.json``.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from rnnagents.agents.exploration import Policy
from rnnagents.agents.sb3_policy import LatentSB3Actor, SB3Policy
from rnnagents.common.executor import Executor, make_executor
from rnnagents.common.files import write_json
from rnnagents.common.stats import EVAL_FILE, error_report, summarize
from rnnagents.envs.carracing import ENV_ID as CARRACING_ID
from rnnagents.envs.carracing import eval_track_seeds, make_carracing
from rnnagents.envs.carracing_sb3 import EPISODE_STEPS, make_carracing_eval_env
from rnnagents.envs.glimpse_task import EVAL_SEED
from rnnagents.train.ppo.config import PPORunConfig, is_glimpse_id
from rnnagents.train.ppo.envs import glimpse_vec_env
from rnnagents.train.ppo.trainer import MODEL_FILE, load_ppo, ppo_from_bytes, trained_ppo_config
from rnnagents.train.real_game import PROGRESS_FILE, ScoreJournal, score_real
from rnnagents.worldmodel.policy import WorldModelPolicy, WorldModelWeights
from rnnagents.worldmodel.run_files import run_config


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
    return error_report(split, int(wrong.sum()), episodes)


@dataclass(frozen=True)
class PPOFactory:
    """A PPO run in the real game, seeing what it trained on: a picklable recipe for the
    real-game scorer's workers.

    CarRacing runs act on the RL Zoo observation of ``make_carracing_eval_env``; dream runs on
    ``[z, h]`` from their world model's V and M, exactly as the controller does. It carries the
    model's bytes (and, for a dream run, the world model's weights), so a worker never reads a
    run directory. Compared and hashed by ``digest``: each worker loads the model once.
    """

    digest: str
    config: PPORunConfig = field(compare=False, repr=False)
    model: bytes = field(compare=False, repr=False)
    world_model: WorldModelWeights | None = field(compare=False, repr=False)

    @classmethod
    def of_run(cls, run_dir: str | os.PathLike) -> PPOFactory:
        config = trained_ppo_config(run_dir)
        if config.env_id != CARRACING_ID and config.dream_run is None:
            raise ValueError(
                f"{run_dir} trained on {config.env_id!r}: only CarRacing-v3 and dream runs are "
                "scored in the real game"
            )
        model = (Path(run_dir) / MODEL_FILE).read_bytes()
        world_model = None
        digest = hashlib.sha1(model)
        if config.env_id != CARRACING_ID:
            world_model = WorldModelWeights.of_run(config.dream_run)
            digest.update(world_model.digest.encode())
        return cls(digest.hexdigest(), config, model, world_model)

    def __call__(self, rng: np.random.Generator | None = None) -> Policy:
        model = _loaded_model(self)
        if self.world_model is None:
            return SB3Policy(model)
        vae, mdnrnn = self.world_model.build()
        return WorldModelPolicy(vae, mdnrnn, LatentSB3Actor(model))


@functools.lru_cache(maxsize=2)
def _loaded_model(factory: PPOFactory) -> BaseAlgorithm:
    return ppo_from_bytes(factory.model, factory.config, device="cpu")  # acts on one frame


def full_episode_steps(config: PPORunConfig) -> int:
    """Agent steps of a whole scored episode.

    CarRacing runs: 1000 frames at frame skip 2. Dream runs: the episode length their world
    model's controller is scored with, so the two are scored alike.
    """
    if config.env_id == CARRACING_ID:
        return EPISODE_STEPS
    return run_config(config.dream_run).collect_max_steps


def evaluate_ppo_real(
    run_dir: str | os.PathLike,
    episodes: int,
    executor: Executor,
    max_steps: int | None = None,
    progress: bool = False,
) -> dict:
    """Returns on ``episodes`` unseen tracks, summarized; also written to RUN_DIR/eval.json."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    factory = PPOFactory.of_run(run_dir)
    config = factory.config
    max_steps = max_steps or full_episode_steps(config)
    seeds = eval_track_seeds(episodes)
    make_env = make_carracing_eval_env if config.env_id == CARRACING_ID else make_carracing
    journal = ScoreJournal(Path(run_dir) / PROGRESS_FILE, f"{factory.digest}-{max_steps}")
    returns = score_real(
        executor,
        factory,
        seeds,
        max_steps,
        make_env,
        journal=journal,
        name="ppo",
        progress=progress,
    )
    report = {
        "agent": "ppo",
        "env_id": config.env_id,
        "tracks": [seeds[0], seeds[-1]],
        "max_steps": max_steps,
        **summarize(returns),
    }
    write_json(Path(run_dir) / EVAL_FILE, report)
    journal.path.unlink()  # the report holds it all now
    return report


def evaluate_run(
    run_dir: str | os.PathLike,
    *,
    split: str | None = None,
    episodes: int | None = None,
    workers: int | None = None,
    device: str = "auto",
    backend: str = "process",
    ray_address: str | None = None,
    progress: bool = True,
) -> dict:
    """Score a finished PPO run where it is judged (see the module docstring); eval.json."""
    if episodes is not None and episodes < 1:
        raise ValueError("--episodes must be >= 1")
    config = trained_ppo_config(run_dir)
    if is_glimpse_id(config.env_id):
        if workers is not None or backend != "process" or ray_address is not None:
            raise ValueError(
                "--workers, --backend and --ray-address apply to CarRacing and dream runs, "
                "not glimpse runs"
            )
        model, config = load_ppo(run_dir, device)
        report = evaluate_ppo_glimpse(model, config, split or "test", episodes or 1000)
        write_json(Path(run_dir) / EVAL_FILE, report)
        return report
    if split is not None:
        raise ValueError("--split applies to glimpse runs; this run is scored on unseen tracks")
    with make_executor(1 if workers is None else workers, backend, ray_address) as executor:
        return evaluate_ppo_real(run_dir, episodes or 100, executor, progress=progress)

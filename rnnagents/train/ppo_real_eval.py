"""Real-game score of a PPO run trained on CarRacing-v3 or in a world model's dream.

Scored like the World Models agent (``rnnagents.train.worldmodel_eval``): the same unseen
evaluation tracks, one episode per executor task through ``score_real``, the same summary. So
"PPO on frames", "PPO in the dream" and "CMA-ES in the dream" are numbers one can compare.
"""

from __future__ import annotations

import os
from pathlib import Path

from rnnagents.envs.carracing import ENV_ID as CARRACING_ID
from rnnagents.envs.carracing_sb3 import EPISODE_STEPS
from rnnagents.train.config import write_json
from rnnagents.train.ppo import PPORunConfig, trained_ppo_config
from rnnagents.train.worldmodel_eval import EVAL_FILE, summarize
from rnnagents.worldmodel.collect import eval_track_seeds
from rnnagents.worldmodel.executor import Executor
from rnnagents.worldmodel.real_eval import score_real
from rnnagents.worldmodel.run_files import run_config


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
) -> dict:
    """Returns on ``episodes`` unseen tracks, summarized; also written to RUN_DIR/eval.json."""
    config = trained_ppo_config(run_dir)
    if config.env_id != CARRACING_ID and config.dream_run is None:
        raise ValueError(
            f"{run_dir} trained on {config.env_id!r}: only CarRacing-v3 and dream runs are "
            "scored in the real game"
        )
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    max_steps = max_steps or full_episode_steps(config)
    seeds = eval_track_seeds(episodes)
    returns = score_real(executor, "ppo", seeds, max_steps, str(run_dir))
    report = {
        "env_id": config.env_id,
        "tracks": [seeds[0], seeds[-1]],
        "max_steps": max_steps,
        **summarize(returns),
    }
    write_json(Path(run_dir) / EVAL_FILE, report)
    return report

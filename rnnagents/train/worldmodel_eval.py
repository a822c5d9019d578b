"""Final score of a World Models run in the real game, beside its baselines and its dream score.

All four policies are scored on the same unseen evaluation tracks by the same code:
the dream-trained controller, a uniformly random policy, the exploration policy that collected
the data, and the same controller with random weights (drawn like CMA-ES's first generation).
The controller's mean return in the dream is reported too: the dream/real gap is the key
diagnostic of a world model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rnnagents.agents.controller import n_params
from rnnagents.envs.dream import BatchedDream
from rnnagents.train.config import write_json
from rnnagents.train.controller_cmaes import INITIAL_SIGMA, dream_returns
from rnnagents.worldmodel.collect import eval_track_seeds
from rnnagents.worldmodel.executor import Executor
from rnnagents.worldmodel.load import load_controller_params, load_dream_parts
from rnnagents.worldmodel.real_eval import score_real
from rnnagents.worldmodel.run_files import run_config

EVAL_FILE = "eval.json"


def summarize(returns: list[float] | np.ndarray) -> dict:
    values = np.asarray(returns, dtype=np.float64)
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "episodes": len(values),
        "returns": [round(float(v), 2) for v in values],
    }


def evaluate_worldmodel(
    run_dir: str | Path,
    episodes: int,
    executor: Executor,
    baselines: bool = True,
    max_steps: int | None = None,
) -> dict:
    """Score the run's controller (and baselines) on ``episodes`` unseen tracks; eval.json."""
    run_dir = Path(run_dir)
    config = run_config(run_dir)
    max_steps = max_steps or config.collect_max_steps
    seeds = eval_track_seeds(episodes)
    params = load_controller_params(run_dir)
    report: dict = {"tracks": [seeds[0], seeds[-1]], "max_steps": max_steps}
    report["controller"] = summarize(
        score_real(executor, "controller", seeds, max_steps, str(run_dir), params)
    )
    if baselines:
        random_weights = np.random.default_rng(config.seed).normal(0, INITIAL_SIGMA, n_params())
        report["controller_random_weights"] = summarize(
            score_real(executor, "controller", seeds, max_steps, str(run_dir), random_weights)
        )
        for policy in ("random", "exploration"):
            report[policy] = summarize(score_real(executor, policy, seeds, max_steps))
    _, mdnrnn, starts = load_dream_parts(run_dir)
    generator = torch.Generator().manual_seed(config.seed)
    dream = BatchedDream(mdnrnn, starts, config.dream_temperature, generator)
    report["dream"] = summarize(dream_returns(params[None], dream, episodes, max_steps)[0])
    write_json(run_dir / EVAL_FILE, report)
    return report

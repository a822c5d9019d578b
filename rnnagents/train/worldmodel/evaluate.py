"""Final score of a World Models run in the real game, beside its baselines and its dream score.

All four policies are scored on the same unseen evaluation tracks by the same code:
the dream-trained controller, a uniformly random policy, the exploration policy that collected
the data, and the same controller with random weights (drawn like CMA-ES's first generation).
The controller's mean return in the dream is reported too: the dream/real gap is the key
diagnostic of a world model.

Every finished episode goes to ``eval_progress.jsonl`` at once, so an evaluation cut short (a
100-track one takes tens of minutes) continues where it stopped when run again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from rnnagents.agents.controller import n_params
from rnnagents.agents.exploration import BrownianPolicy, UniformRandomPolicy
from rnnagents.common.executor import Executor, make_executor
from rnnagents.common.files import write_json
from rnnagents.common.stats import EVAL_FILE, summarize
from rnnagents.envs.carracing import eval_track_seeds
from rnnagents.train.real_game import PROGRESS_FILE, ScoreJournal, score_real
from rnnagents.train.worldmodel.cmaes import INITIAL_SIGMA, dream_returns
from rnnagents.worldmodel.dream import BatchedDream
from rnnagents.worldmodel.policy import ControllerFactory, WorldModelWeights
from rnnagents.worldmodel.run_files import (
    load_controller_params,
    load_dream_parts,
    run_config,
    scored_action_noise,
)


def evaluate_worldmodel(
    run_dir: str | Path,
    episodes: int,
    executor: Executor,
    baselines: bool = True,
    max_steps: int | None = None,
    progress: bool = False,
    action_noise: float | None = None,
) -> dict:
    """Score the run's controller (and baselines) on ``episodes`` unseen tracks; eval.json.

    ``action_noise``: the std of the OU noise on C's actions (default: the one the select
    stage chose with C, else the run's ``action_noise``); the random-weights baseline gets the
    same noise, so it is the same policy with C untrained.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    run_dir = Path(run_dir)
    config = run_config(run_dir)
    max_steps = max_steps or config.collect_max_steps
    noise = scored_action_noise(run_dir) if action_noise is None else action_noise
    if noise < 0:
        raise ValueError(f"action_noise must be >= 0, got {noise}")
    # The dream score's parts first: a run without them fails before an hour of real episodes.
    vae, mdnrnn, starts = load_dream_parts(run_dir)
    seeds = eval_track_seeds(episodes)
    params = load_controller_params(run_dir)
    weights = WorldModelWeights.of(vae, mdnrnn, config)
    key = _evaluation_key(weights, params, max_steps, noise)
    journal = ScoreJournal(run_dir / PROGRESS_FILE, key)
    controller = score_real(
        executor,
        ControllerFactory.of(weights, params, noise),
        seeds,
        max_steps,
        journal=journal,
        name="controller",
        progress=progress,
    )
    report: dict = {
        "agent": "controller",
        "tracks": [seeds[0], seeds[-1]],
        "max_steps": max_steps,
        "action_noise": noise,
        **summarize(controller),
    }
    if baselines:
        random_weights = np.random.default_rng(config.seed).normal(0, INITIAL_SIGMA, n_params())
        factories = {
            "controller_random_weights": ControllerFactory.of(weights, random_weights, noise),
            "random": UniformRandomPolicy,
            "exploration": BrownianPolicy,
        }
        report["baselines"] = {
            name: summarize(
                score_real(
                    executor,
                    factory,
                    seeds,
                    max_steps,
                    journal=journal,
                    name=name,
                    progress=progress,
                )
            )
            for name, factory in factories.items()
        }
    generator = torch.Generator().manual_seed(config.seed)
    dream = BatchedDream(mdnrnn, starts, config.dream_temperature, generator, config.dream_reward)
    dreams = dream_returns(params[None], dream, episodes, max_steps, config.dream_action_noise)
    report["dream"] = summarize(dreams[0])
    write_json(run_dir / EVAL_FILE, report)
    journal.path.unlink()  # the report holds it all now
    return report


def _evaluation_key(
    weights: WorldModelWeights, params: np.ndarray, max_steps: int, noise: float
) -> str:
    """What an evaluation's episodes depend on: C's weights, V's and M's, the length, the
    noise on C's actions."""
    digest = hashlib.sha1(params.tobytes())
    digest.update(f"{weights.digest}-{max_steps}-{noise!r}".encode())
    return digest.hexdigest()


def evaluate_run(
    run_dir: str | Path,
    *,
    episodes: int = 100,
    workers: int | None = None,
    baselines: bool = True,
    backend: str = "process",
    ray_address: str | None = None,
    progress: bool = True,
    action_noise: float | None = None,
) -> dict:
    """Score a world-model run on ``episodes`` unseen tracks with ``workers`` processes
    (default: the run's own) or Ray, baselines included unless told otherwise; eval.json.
    ``action_noise``: the OU noise on C's actions (default: as ``evaluate_worldmodel``)."""
    workers = run_config(run_dir).workers if workers is None else workers
    with make_executor(workers, backend, ray_address) as executor:
        return evaluate_worldmodel(
            run_dir,
            episodes,
            executor,
            baselines=baselines,
            progress=progress,
            action_noise=action_noise,
        )

"""Choose the OU noise on C's actions on training tracks, never on the evaluation tracks.

Scores each world-model run's current controller with each noise std on the same training
tracks (from ``--start``, past the ones the runs collected), and reports the mean over runs
per noise. The last line is ``RESULT best_noise=... noise_X=...``.

    python benchmarks/worldmodel_action_noise.py RUN [RUN ...] [--noises 0,0.1,0.2,0.3]
        [--tracks 10] [--start 300] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from common import report

from rnnagents.common.executor import make_executor
from rnnagents.envs.carracing import train_track_seeds
from rnnagents.train.real_game import score_real
from rnnagents.worldmodel.policy import ControllerFactory, WorldModelWeights
from rnnagents.worldmodel.run_files import load_controller_params, run_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", help="World Models run directories")
    parser.add_argument("--noises", default="0,0.1,0.2,0.3", help="comma-separated stds")
    parser.add_argument("--tracks", type=int, default=10, help="training tracks per score")
    parser.add_argument("--start", type=int, default=300, help="first training track used")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    noises = [float(n) for n in args.noises.split(",")]
    seeds = train_track_seeds(args.tracks, start=args.start)
    scores: dict[str, dict[str, float]] = {}
    with make_executor(args.workers) as executor:
        for run in args.runs:
            weights, params = WorldModelWeights.of_run(run), load_controller_params(run)
            max_steps = run_config(run).collect_max_steps
            for noise in noises:
                factory = ControllerFactory.of(weights, params, noise)
                returns = score_real(executor, factory, seeds, max_steps)
                scores.setdefault(str(noise), {})[run] = float(np.mean(returns))
                print(f"{run} noise {noise}: {np.mean(returns):.1f} +- {np.std(returns):.1f}")
    means = {noise: float(np.mean(list(by_run.values()))) for noise, by_run in scores.items()}
    best = max(means, key=means.get)
    results = {
        "tracks": [seeds[0], seeds[-1]],
        "per_run": scores,
        "best_noise": float(best),
        **{f"noise_{noise}": round(mean, 1) for noise, mean in means.items()},
    }
    keys = ["best_noise", *(f"noise_{noise}" for noise in means)]
    report("worldmodel_action_noise", results, keys, " ".join(["python", *sys.argv]))


if __name__ == "__main__":
    main()

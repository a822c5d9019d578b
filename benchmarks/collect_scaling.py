"""Real CarRacing collection throughput (frames/s) with 1 and 2 worker processes, same run.

Both measurements use a warmed-up process pool (workers already started and imported), so the
ratio is the scaling of the collection itself, not of process start-up.

    python benchmarks/collect_scaling.py [--episodes 4] [--steps 400]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from common import report

from rnnagents.common.executor import ProcessExecutor
from rnnagents.envs.carracing import train_track_seeds
from rnnagents.worldmodel.collect import collect


def frames_per_second(workers: int, episodes: int, steps: int) -> float:
    with ProcessExecutor(workers) as executor, tempfile.TemporaryDirectory() as out:
        collect(
            out, workers, 20, train_track_seeds(workers, start=500), executor, progress=False
        )  # warm-up: start and import every worker
        start = time.perf_counter()
        summary = collect(
            out, episodes, steps, train_track_seeds(episodes), executor, progress=False
        )
        seconds = time.perf_counter() - start
    return sum(e["steps"] for e in summary["episodes"]) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=4, help="even, so 2 workers split them")
    parser.add_argument("--steps", type=int, default=400, help="max steps per episode")
    args = parser.parse_args()
    fps1 = frames_per_second(1, args.episodes, args.steps)
    fps2 = frames_per_second(2, args.episodes, args.steps)
    report(
        "collect_scaling",
        {
            "episodes": args.episodes,
            "max_steps": args.steps,
            "fps1": fps1,
            "fps2": fps2,
            "scaling": fps2 / fps1,
        },
        ["fps1", "fps2", "scaling"],
        " ".join(["python", *sys.argv]),
    )


if __name__ == "__main__":
    main()

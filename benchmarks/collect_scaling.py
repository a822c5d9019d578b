"""Real CarRacing collection throughput (frames/s): serial, a pool of 2 processes and Ray with
2 CPUs, measured in the same run.

Every backend is warmed up first (workers started and imported), so the ratios are those of the
collection itself, not of start-up. The last line is ``RESULT ... ray_vs_process=...``: Ray's
throughput over the process pool's on the same episodes (aim: >= 0.9).

    python benchmarks/collect_scaling.py [--episodes 4] [--steps 400]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from common import report

from rnnagents.common.executor import make_executor
from rnnagents.envs.carracing import train_track_seeds
from rnnagents.worldmodel.collect import collect


def frames_per_second(backend: str, workers: int, episodes: int, steps: int) -> float:
    with make_executor(workers, backend) as executor, tempfile.TemporaryDirectory() as out:
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
    serial = frames_per_second("serial", 1, args.episodes, args.steps)
    process = frames_per_second("process", 2, args.episodes, args.steps)
    on_ray = frames_per_second("ray", 2, args.episodes, args.steps)
    report(
        "collect_scaling",
        {
            "episodes": args.episodes,
            "max_steps": args.steps,
            "fps_serial": serial,
            "fps_process2": process,
            "fps_ray2": on_ray,
            "process_vs_serial": process / serial,
            "ray_vs_process": on_ray / process,
        },
        ["fps_serial", "fps_process2", "fps_ray2", "process_vs_serial", "ray_vs_process"],
        " ".join(["python", *sys.argv]),
    )


if __name__ == "__main__":
    main()

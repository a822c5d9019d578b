"""Glimpse-steps per second: native vector env vs SyncVectorEnv over single envs, same run.

python benchmarks/env_throughput.py [--env rnnagents/ClutteredMNIST60-v0] [--num-envs 256]
"""

from __future__ import annotations

import argparse
import sys
import time

import gymnasium as gym
import numpy as np
from common import report

import rnnagents  # noqa: F401  (registers the ids)


def steps_per_second(envs: gym.vector.VectorEnv, seconds: float) -> float:
    """Random in-bounds actions, continuing through autoresets, for about ``seconds``."""
    rng = np.random.default_rng(0)
    n = envs.num_envs
    actions = {
        "location": rng.uniform(-1, 1, (64, n, 2)).astype(np.float32),
        "class": rng.integers(0, 10, (64, n)),
    }
    envs.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        i = steps % 64
        envs.step({"location": actions["location"][i], "class": actions["class"][i]})
        steps += 1
    return steps * n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", default="rnnagents/ClutteredMNIST60-v0")
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    args = parser.parse_args()
    native = gym.make_vec(args.env, num_envs=args.num_envs, vectorization_mode="vector_entry_point")
    sync = gym.make_vec(args.env, num_envs=args.num_envs, vectorization_mode="sync")
    vector_sps = steps_per_second(native, args.seconds)
    sync_sps = steps_per_second(sync, args.seconds)
    report(
        "env_throughput",
        {
            "env": args.env,
            "num_envs": args.num_envs,
            "vector_sps": vector_sps,
            "sync_sps": sync_sps,
            "ratio": vector_sps / sync_sps,
        },
        ["vector_sps", "sync_sps", "ratio"],
        " ".join(["python", *sys.argv]),
    )


if __name__ == "__main__":
    main()

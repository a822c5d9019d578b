"""Controller steps per second: in the batched dream vs in the real CarRacing, same controller.

Real: one process drives CarRacing-v3 with the full agent (V encodes each frame, C acts, M
advances). Dream: ``--dreams`` dreams stepped together by M with the same controller. Uses a
world-model run's V, M and C when ``--run-dir`` is given, else freshly initialised networks of
the same sizes (speed does not depend on the weights).

    python benchmarks/dream_speed.py [--run-dir RUN] [--dreams 1024] [--steps 200]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from common import report

from rnnagents.agents.controller import BatchedController, n_params
from rnnagents.envs.carracing import drive, eval_track_seeds, make_carracing
from rnnagents.worldmodel.dream import BatchedDream
from rnnagents.worldmodel.mdnrnn import MDNRNN
from rnnagents.worldmodel.policy import ControllerActor, WorldModelPolicy
from rnnagents.worldmodel.vae import ConvVAE


def parts(run_dir: str | None):
    if run_dir:
        from rnnagents.worldmodel.run_files import load_controller_params, load_dream_parts

        vae, mdnrnn, starts = load_dream_parts(run_dir)
        return vae, mdnrnn, starts, load_controller_params(run_dir)
    torch.manual_seed(0)
    params = np.random.default_rng(0).normal(0, 0.1, n_params()).astype(np.float32)
    return ConvVAE().eval(), MDNRNN().eval(), torch.zeros(8, 2, 32), params


def real_steps_per_second(vae, mdnrnn, params, steps: int) -> float:
    env = make_carracing()
    policy = WorldModelPolicy(vae, mdnrnn, ControllerActor(params))
    done, start = 0, time.perf_counter()
    for track in eval_track_seeds(100):
        policy.reset()
        done += sum(1 for _ in drive(env, policy, track, steps - done))
        if done >= steps:
            break
    return done / (time.perf_counter() - start)


@torch.no_grad()
def dream_steps_per_second(mdnrnn, starts, params, dreams: int, steps: int) -> float:
    dream = BatchedDream(mdnrnn, starts, 1.15, torch.Generator().manual_seed(0))
    controller = BatchedController(params, repeats=dreams)
    z, h = dream.reset(dreams)
    start = time.perf_counter()
    for _ in range(steps):
        z, h, _, _ = dream.step(controller.act(z, h))
    return dreams * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir")
    parser.add_argument("--dreams", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    vae, mdnrnn, starts, params = parts(args.run_dir)
    real = real_steps_per_second(vae, mdnrnn, params, args.steps)
    dream = dream_steps_per_second(mdnrnn, starts, params, args.dreams, args.steps)
    report(
        "dream_speed",
        {
            "run_dir": args.run_dir,
            "dreams": args.dreams,
            "steps": args.steps,
            "torch_threads": torch.get_num_threads(),
            "dream_sps": dream,
            "real_sps": real,
            "ratio": dream / real,
        },
        ["dream_sps", "real_sps", "ratio"],
        " ".join(["python", *sys.argv]),
    )


if __name__ == "__main__":
    main()

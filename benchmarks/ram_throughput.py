"""RAM training throughput (images/s): 60x60 cluttered MNIST, 8 glimpses, batch 128.

Times whole training batches (env steps, forward, backward, optimizer step) after a warm-up.

    python benchmarks/ram_throughput.py [--batches 100] [--device cpu]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time

from common import report

from rnnagents.train.ram.config import PRESETS
from rnnagents.train.ram.trainer import RAMTrainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", default="rnnagents/ClutteredMNIST60-v0")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--core", default="rnn")
    args = parser.parse_args()
    config = dataclasses.replace(
        PRESETS["default"],
        env_id=args.env,
        batch_size=args.batch_size,
        device=args.device,
        core=args.core,
    )
    trainer = RAMTrainer(config, tempfile.mkdtemp(), progress=False)
    for seed in range(5):  # warm-up
        trainer.train_batch(seed)
    start = time.perf_counter()
    for seed in range(args.batches):
        trainer.train_batch(seed)
    seconds = time.perf_counter() - start
    images_per_s = args.batches * args.batch_size / seconds
    report(
        "ram_throughput",
        {
            "env": args.env,
            "batch_size": args.batch_size,
            "core": args.core,
            "n_glimpses": trainer.envs.unwrapped.config.n_glimpses,
            "device": args.device,
            "images_per_s": images_per_s,
            "seconds": seconds,
        },
        ["images_per_s"],
        " ".join(["python", *sys.argv]),
    )


if __name__ == "__main__":
    main()

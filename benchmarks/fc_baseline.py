"""FC-256 baseline on the whole canvas, trained on the same number of images as a RAM run.

The whole image comes through the same Gymnasium env: one glimpse, one scale, as wide as the
canvas, taken at the centre, is exactly the canvas. The classifier answers at the only step.

    python benchmarks/fc_baseline.py --env rnnagents/ClutteredMNIST60-v0 --images 1536000
"""

from __future__ import annotations

import argparse
import sys
import time

import gymnasium as gym
import numpy as np
import torch
from common import report
from torch.nn import functional as F

from rnnagents.agents.fc_classifier import FullyConnectedClassifier
from rnnagents.common.stats import wilson_interval
from rnnagents.envs.glimpse_task import GlimpseTaskConfig
from rnnagents.train.ram.rollout import make_glimpse_vec_env


def whole_image_env(env_id: str, n: int, split: str, canvas: int, data_dir: str | None):
    kwargs = dict(glimpse_size=canvas, n_scales=1, n_glimpses=1)
    if data_dir:
        kwargs["data_dir"] = data_dir
    return make_glimpse_vec_env(env_id, n, split, **kwargs)


def play(model, envs, seed=None):
    """One step episodes: image in, class out; (logits, labels, reward) from the env."""
    obs, _ = envs.reset(seed=seed)
    logits = model(torch.from_numpy(obs["glimpse"]))
    action = {
        "location": np.zeros((envs.num_envs, 2), np.float32),
        "class": logits.argmax(-1).numpy(),
    }
    _, reward, terminated, _, info = envs.step(action)
    assert terminated.all()
    return logits, torch.from_numpy(info["label"]), reward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", default="rnnagents/ClutteredMNIST60-v0")
    parser.add_argument(
        "--images",
        type=int,
        default=1_536_000,
        help="training images (default: the RAM default preset's 30 epochs)",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--data-dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="fc_baseline")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    canvas = GlimpseTaskConfig(**gym.spec(args.env).kwargs).canvas_size  # no digits loaded
    train = whole_image_env(args.env, args.batch_size, "train", canvas, args.data_dir)
    model = FullyConnectedClassifier(canvas * canvas)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    start = time.perf_counter()
    for b in range(args.images // args.batch_size):
        logits, labels, _ = play(model, train, seed=args.seed if b == 0 else None)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    test = whole_image_env(args.env, 250, "test", canvas, args.data_dir)
    wrong = seen = 0
    n_test = len(test.unwrapped.task.images)
    with torch.no_grad():
        for b in range(-(-n_test // 250)):
            _, _, reward = play(model, test, seed=20_140_624 if b == 0 else None)
            keep = min(250, n_test - seen)
            wrong += int((reward[:keep] < 0.5).sum())
            seen += keep
    low, high = wilson_interval(wrong, seen)
    report(
        args.name,
        {
            "env": args.env,
            "images": args.images,
            "test_error": wrong / seen,
            "test_error_ci95": [low, high],
            "test_episodes": seen,
            "train_seconds": seconds,
        },
        ["test_error", "train_seconds"],
        " ".join(["python", *sys.argv]),
    )


if __name__ == "__main__":
    main()

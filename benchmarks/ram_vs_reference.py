"""RAM training speed beside a reference implementation, kevinzakka/recurrent-visual-attention.

The same task for both: 60x60 cluttered MNIST, 8 glimpses of 3 scales of 12x12 (scale factor
2), a 256-unit RNN core, 128-unit glimpse and location layers, batch 128, Adam, one torch
thread each. Ours times whole training batches as `rnnagents train ram` runs them: new
canvases for every batch (clutter included), env steps, forward, backward, optimizer step.
The reference times its own ``Trainer.train_one_epoch`` on canvases our env drew beforehand,
held in memory, so its data loader does no work. Each measurement is a fresh subprocess; the
two alternate ``--rounds`` times. The reference's code is never part of rnnagents: it is
cloned into a temporary folder (needs network) or given with ``--reference`` (a checkout or a
bare git directory).

    python benchmarks/ram_vs_reference.py [--reference DIR] [--rounds 3] [--batches 40]

Last line: ``RESULT ours=... reference=... ratio=...`` (medians over rounds, images/s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

REFERENCE_URL = "https://github.com/kevinzakka/recurrent-visual-attention"
ENV_ID = "rnnagents/ClutteredMNIST60-v0"
WARMUP_BATCHES = 5


def checkout(reference: str | None, into: Path) -> Path:
    """A folder holding the reference's sources: ``reference`` itself, or a copy of it."""
    if reference is not None and (Path(reference) / "model.py").exists():
        return Path(reference)
    target = into / "reference"
    if reference is None:
        subprocess.run(["git", "clone", "-q", "--depth", "1", REFERENCE_URL, target], check=True)
    else:  # a bare git directory, e.g. a mirror
        target.mkdir()
        archive = subprocess.run(
            ["git", "--git-dir", reference, "archive", "HEAD"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
    return target


def ours(batches: int, batch_size: int, device: str, data_dir: str | None) -> float:
    """Images/s of our trainer's whole training batches."""
    import dataclasses

    from rnnagents.train.ram.config import PRESETS
    from rnnagents.train.ram.trainer import RAMTrainer

    config = dataclasses.replace(
        PRESETS["default"], env_id=ENV_ID, batch_size=batch_size, device=device, data_dir=data_dir
    )
    trainer = RAMTrainer(config, tempfile.mkdtemp(), progress=False)
    for seed in range(WARMUP_BATCHES):
        trainer.train_batch(seed)
    sync = _synchronizer(device)
    start = time.perf_counter()
    for seed in range(batches):
        trainer.train_batch(WARMUP_BATCHES + seed)
    sync()
    return batches * batch_size / (time.perf_counter() - start)


def reference(
    batches: int, batch_size: int, device: str, data_dir: str | None, source: Path
) -> float:
    """Images/s of the reference's own training epoch, on canvases held in memory."""
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, SubsetRandomSampler, TensorDataset

    from rnnagents.train.ram.rollout import make_glimpse_vec_env

    kwargs = {} if data_dir is None else {"data_dir": data_dir}
    envs = make_glimpse_vec_env(ENV_ID, batch_size, "train", **kwargs)
    canvases, labels = [], []
    for seed in range(WARMUP_BATCHES + batches):
        envs.reset(seed=seed)
        canvases.append(envs.unwrapped.task.canvases.copy())
        labels.append(envs.unwrapped.task.labels.copy())
    x = torch.from_numpy(np.concatenate(canvases)[:, None].astype(np.float32) / 255.0)
    y = torch.from_numpy(np.concatenate(labels))

    def loader(first: int, count: int) -> DataLoader:
        indices = list(range(first * batch_size, (first + count) * batch_size))
        sampler = SubsetRandomSampler(indices)
        return DataLoader(TensorDataset(x, y), batch_size=batch_size, sampler=sampler)

    sys.modules.setdefault(  # imported by its trainer for TensorBoard, which stays off here
        "tensorboard_logger",
        types.SimpleNamespace(configure=lambda *a, **k: None, log_value=lambda *a, **k: None),
    )
    sys.path.insert(0, str(source))
    os.chdir(tempfile.mkdtemp())  # it writes ./plots and ./ckpt folders
    sys.argv = [
        "main.py",
        *("--patch_size", "12", "--num_patches", "3", "--glimpse_scale", "2"),
        *("--num_glimpses", "8", "--hidden_size", "256", "--std", "0.1"),
        *("--batch_size", str(batch_size), "--use_gpu", str(device.startswith("cuda"))),
        *("--plot_freq", "1000000", "--use_tensorboard", "False"),
    ]
    from config import get_config  # the reference's own modules, from `source`
    from trainer import Trainer

    config, _ = get_config()
    trainer = Trainer(config, (loader(0, WARMUP_BATCHES), loader(0, 1)))
    trainer.train_one_epoch(1)  # warm-up
    trainer.train_loader = loader(WARMUP_BATCHES, batches)
    sync = _synchronizer(device)
    start = time.perf_counter()
    trainer.train_one_epoch(2)
    sync()
    return batches * batch_size / (time.perf_counter() - start)


def _synchronizer(device: str):
    import torch

    if device.startswith("cuda"):
        return torch.cuda.synchronize
    return lambda: None


def measure(side: str, args: argparse.Namespace, source: Path) -> float:
    """One measurement in a fresh interpreter with one torch thread."""
    command = [
        sys.executable, __file__, "--side", side, "--source", str(source),
        "--batches", str(args.batches), "--batch-size", str(args.batch_size),
        "--device", args.device,
    ]  # fmt: skip
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", help="the reference's checkout or bare git directory")
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurements each")
    parser.add_argument("--batches", type=int, default=40, help="timed batches per measurement")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", help="MNIST IDX folder (default: the offline sample)")
    parser.add_argument("--side", choices=["ours", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side is not None:  # inside one measurement's subprocess
        import torch

        torch.set_num_threads(1)
        if args.side == "ours":
            rate = ours(args.batches, args.batch_size, args.device, args.data_dir)
        else:
            rate = reference(
                args.batches, args.batch_size, args.device, args.data_dir, Path(args.source)
            )
        print(rate)
        return

    from common import report

    with tempfile.TemporaryDirectory() as tmp:
        source = checkout(args.reference, Path(tmp))
        rates: dict[str, list[float]] = {"ours": [], "reference": []}
        for round_ in range(args.rounds):
            for side in ("ours", "reference") if round_ % 2 == 0 else ("reference", "ours"):
                rates[side].append(measure(side, args, source))
                print(f"round {round_ + 1} {side}: {rates[side][-1]:.0f} img/s", flush=True)
    ours_rate, reference_rate = (statistics.median(rates[side]) for side in rates)
    report(
        f"ram_vs_reference_{args.device.split(':')[0]}",
        {
            "task": f"{ENV_ID}, 8 glimpses of 3x12x12, batch {args.batch_size}",
            "device": args.device,
            "torch_threads_per_measurement": 1,
            "rates": rates,
            "ours": ours_rate,
            "reference": reference_rate,
            "ratio": ours_rate / reference_rate,
        },
        ["ours", "reference", "ratio"],
        " ".join(["python", *sys.argv]),
    )


if __name__ == "__main__":
    main()

"""The resumable epoch loop that trains both the VAE and the MDN-RNN.

Both stages stream batches from shards, checkpoint atomically after every epoch (and mid-epoch
on Ctrl-C), and resume from that checkpoint. Shuffling and sampling noise are seeded per epoch
and per batch, so a resumed run skips the batches it already trained on and then replays
exactly what an uninterrupted run would have done.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from rnnagents.train.checkpoint import load_checkpoint, save_checkpoint
from rnnagents.train.interrupt import StopRequest
from rnnagents.worldmodel.config import WorldModelConfig


def derive_seed(*keys: int) -> int:
    """An independent 63-bit seed for each tuple of keys (run seed, epoch, batch, ...)."""
    state = np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


@dataclass
class EpochStats:
    """Sums of the metrics ``train_batch`` returned over one epoch (or its resumed part)."""

    sums: dict[str, float]
    batches: int
    seconds: float

    def means(self) -> dict[str, float]:
        return {key: value / max(self.batches, 1) for key, value in self.sums.items()}


def train_epochs(
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    out_path: str | os.PathLike,
    kind: str,
    config: WorldModelConfig,
    compare_keys: Sequence[str],
    epochs: int,
    batches: Callable[[np.random.Generator], Iterable[Any]],
    train_batch: Callable[[Any], dict[str, float]],
    end_epoch: Callable[[int, int, EpochStats], None],
    progress: bool = True,
) -> bool:
    """Train ``model`` to ``epochs`` epochs; False when Ctrl-C stopped it (checkpoint saved).

    ``batches(rng)`` yields one epoch of batches; ``train_batch`` takes one optimizer step and
    returns its metrics; ``end_epoch(epoch, step, stats)`` logs after the epoch's checkpoint.
    A checkpoint at ``out_path`` of another ``kind`` or model shape raises ``CheckpointError``.
    """
    epoch = batch = step = 0
    if Path(out_path).exists():
        ckpt = load_checkpoint(out_path, expected_kind=kind, expected_config=config.as_dict(),
                               compare_keys=compare_keys)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        epoch, batch, step = ckpt["epoch"], ckpt["batch"], ckpt["step"]

    def save() -> None:
        save_checkpoint(out_path, {
            "kind": kind, "config": config.as_dict(), "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "epoch": epoch, "batch": batch, "step": step,
        })

    with StopRequest() as stop:
        while epoch < epochs:
            stats = EpochStats({}, 0, 0.0)
            start = time.perf_counter()
            rng = np.random.default_rng(derive_seed(config.seed, epoch))
            bar = tqdm(desc=f"{kind} epoch {epoch + 1}/{epochs}", unit="batch", initial=batch,
                       disable=not progress, leave=False)
            model.train()
            for index, item in enumerate(batches(rng)):
                if index < batch:
                    continue  # trained on before the interruption this run resumes from
                if stop.requested:
                    bar.close()
                    save()
                    return False
                torch.manual_seed(derive_seed(config.seed, epoch, index))
                metrics = train_batch(item)
                batch, step, stats.batches = batch + 1, step + 1, stats.batches + 1
                for key, value in metrics.items():
                    stats.sums[key] = stats.sums.get(key, 0.0) + value
                bar.update()
                bar.set_postfix(loss=f"{metrics['loss']:.3f}")
            bar.close()
            epoch, batch = epoch + 1, 0
            stats.seconds = time.perf_counter() - start
            save()
            end_epoch(epoch, step, stats)
    return True

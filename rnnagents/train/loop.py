"""The one resumable epoch loop: the RAM, V and M all train through :func:`train_epochs`.

A checkpoint is written atomically after every epoch (and mid-epoch on Ctrl-C) and a run
resumes from it. Each epoch's batches come from a generator seeded by (seed, epoch) and torch is
seeded by (seed, epoch, batch) before each step, so a resumed run skips the batches it already
trained on and then replays exactly what an uninterrupted run would have done. The epoch's
checkpoint is written before its metrics are logged: a kill between the two can lose a metrics
line, never repeat one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from rnnagents.common.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rnnagents.common.interrupt import StopRequest
from rnnagents.common.seeding import derive_seed


@dataclass
class EpochStats:
    """Sums of the metrics ``train_batch`` returned over one epoch (checkpointed with it)."""

    sums: dict[str, float] = field(default_factory=dict)
    batches: int = 0
    seconds: float = 0.0

    def add(self, metrics: dict[str, float], seconds: float) -> None:
        for key, value in metrics.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.batches += 1
        self.seconds += seconds

    def means(self) -> dict[str, float]:
        return {key: value / max(self.batches, 1) for key, value in self.sums.items()}


@dataclass
class Position:
    """Where a run stands: epochs done, batches done in the current epoch, optimizer steps."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    stats: EpochStats = field(default_factory=EpochStats)


class EpochTask(Protocol):
    """What a model brings to the loop."""

    def batches(self, rng: np.random.Generator) -> Iterable[Any]:
        """One epoch of batches, a function of ``rng`` alone (so a resume can skip some)."""

    def train_batch(self, item: Any) -> dict[str, float]:
        """One optimizer step; its metrics (``loss`` among them), summed over the epoch."""

    def end_epoch(self, epoch: int, step: int, stats: EpochStats) -> dict[str, float]:
        """Epoch ``epoch`` (1-based) is trained, ``step`` optimizer steps in all: update what
        the checkpoint must hold (LR schedule, best score, a best-model file) and return the
        epoch's metrics."""

    def after_checkpoint(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        """Log the epoch's metrics and media; runs once its checkpoint is safe."""

    def postfix(self, stats: EpochStats) -> dict[str, str]:
        """What the progress bar shows."""

    def state_dict(self) -> dict[str, Any]:
        """Everything a checkpoint holds besides the loop's position (model, optimizer, ...)."""

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def load_position(
    path: str | os.PathLike,
    task: EpochTask,
    *,
    kind: str,
    config: dict,
    compare_keys: Sequence[str],
    defaults: Mapping[str, Any] | None = None,
) -> Position:
    """Restore ``task`` from its checkpoint at ``path`` and return where the run stands.

    A checkpoint of another ``kind`` or model shape raises ``CheckpointError`` naming it;
    ``defaults`` stand in for options the checkpoint predates (``load_checkpoint``).
    """
    ckpt = load_checkpoint(
        path,
        expected_kind=kind,
        expected_config=config,
        compare_keys=compare_keys,
        defaults=defaults,
    )
    try:
        task.load_state_dict(ckpt)
    except (RuntimeError, KeyError, ValueError) as err:  # tensors or entries that do not fit
        raise CheckpointError(f"{path} does not fit this run's model: {err}") from err
    stats = EpochStats(**ckpt["stats"])
    return Position(ckpt["epoch"], ckpt["batch"], ckpt["step"], stats)


def save_position(
    path: str | os.PathLike, task: EpochTask, *, kind: str, config: dict, position: Position
) -> None:
    save_checkpoint(
        path,
        {
            **task.state_dict(),
            "kind": kind,
            "config": config,
            "epoch": position.epoch,
            "batch": position.batch,
            "step": position.step,
            "stats": asdict(position.stats),
        },
    )


def train_epochs(
    task: EpochTask,
    *,
    path: str | os.PathLike,
    kind: str,
    config: dict,
    compare_keys: Sequence[str],
    epochs: int,
    seed: int,
    progress: bool = True,
    defaults: Mapping[str, Any] | None = None,
) -> bool:
    """Train ``task`` to ``epochs`` epochs, resuming from ``path`` if a checkpoint is there.

    Returns False when Ctrl-C stopped it (a checkpoint at the batch boundary is saved).
    """
    position = Position()
    if Path(path).exists():
        position = load_position(
            path, task, kind=kind, config=config, compare_keys=compare_keys, defaults=defaults
        )
    if position.epoch > epochs:
        raise ValueError(
            f"{path} has trained {position.epoch} epochs already; asking for {epochs} would "
            "undo them (a run only grows; --epochs equal to the done count just re-evaluates)"
        )

    def save() -> None:
        save_position(path, task, kind=kind, config=config, position=position)

    with StopRequest() as stop:
        while position.epoch < epochs:
            epoch = position.epoch
            rng = np.random.default_rng(derive_seed(seed, epoch))
            bar = tqdm(
                desc=f"{kind} epoch {epoch + 1}/{epochs}",
                unit="batch",
                initial=position.batch,
                disable=not progress,
                leave=False,
            )
            for index, item in enumerate(task.batches(rng)):
                if index < position.batch:
                    continue  # trained on before the interruption this run resumes from
                if stop.requested:
                    bar.close()
                    save()
                    return False
                torch.manual_seed(derive_seed(seed, epoch, index))
                start = time.perf_counter()
                metrics = task.train_batch(item)
                position.stats.add(metrics, time.perf_counter() - start)
                position.batch += 1
                position.step += 1
                bar.update()
                bar.set_postfix(task.postfix(position.stats))
            bar.close()
            metrics = task.end_epoch(epoch + 1, position.step, position.stats)
            position = Position(epoch + 1, 0, position.step)
            save()
            task.after_checkpoint(position.epoch, position.step, metrics)
    return True

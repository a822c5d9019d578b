"""Start, resume and train a RAM run (hybrid supervised + REINFORCE loss) in its run directory.

Training goes through the one resumable epoch loop (``rnnagents.train.loop``): every batch's
episodes and location samples are seeded from (seed, epoch, batch), so a run stopped anywhere
and resumed ends with the same weights as one that never stopped.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from rnnagents.agents.ram import RecurrentAttentionModel, ram_loss
from rnnagents.common.checkpoint import load_checkpoint, load_weights
from rnnagents.common.device import resolve_device
from rnnagents.common.files import write_json
from rnnagents.common.run_dir import BEST_FILE, CHECKPOINT_FILE, locked, read_run, start_run_dir
from rnnagents.common.run_logger import RunLogger
from rnnagents.common.stats import EVAL_FILE
from rnnagents.train.loop import EpochStats, Position, load_position, save_position, train_epochs
from rnnagents.train.ram.config import DEFAULTS, RESUMABLE_CHANGES, RESUME_KEYS, RAMRunConfig
from rnnagents.train.ram.evaluate import evaluate_ram
from rnnagents.train.ram.rollout import glimpse_pixels, make_glimpse_vec_env, play_batch
from rnnagents.train.ram.watch import log_glimpse_media

KIND = "ram"


def build_model(config: RAMRunConfig, glimpse_size_pixels: int, device) -> RecurrentAttentionModel:
    return RecurrentAttentionModel(config.model_config(glimpse_size_pixels)).to(device)


class RAMTrainer:
    """Owns the model, optimizer and envs of one run directory; an ``EpochTask`` of the loop."""

    def __init__(
        self,
        config: RAMRunConfig,
        run_dir: str | Path,
        *,
        wandb: bool = False,
        progress: bool = True,
    ) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.device = resolve_device(config.device)
        self.progress = progress
        self.wandb = wandb
        self.logger: RunLogger | None = None
        for split in ("validation", "test"):  # a bad file is found now, not after training
            make_glimpse_vec_env(config.env_id, 1, split, **config.env_kwargs()).close()
        self.envs = make_glimpse_vec_env(
            config.env_id, config.batch_size, "train", **config.env_kwargs()
        )
        torch.manual_seed(config.seed)  # the initial weights
        self.model = build_model(config, glimpse_pixels(self.envs), self.device)
        # fused: one kernel for all parameters, 2.5x faster a step than the per-tensor loop
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, fused=True)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, config.lr_decay)
        self.generator = torch.Generator(device=self.device)
        self.best_valid_error = float("inf")
        self.epoch = 0

    # -- the loop's EpochTask ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "best_valid_error": self.best_valid_error,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.best_valid_error = state["best_valid_error"]
        self.epoch = state["epoch"]

    def batches(self, rng: np.random.Generator) -> list[int]:
        """One seed per batch: it draws the batch's episodes and its location samples."""
        return [int(s) for s in rng.integers(2**62, size=self.config.batches_per_epoch)]

    def episode_seeds(self, seed: int) -> list[int]:
        """The batch's sub-env seeds, ``seed + i`` for the i-th canvas: sub-envs that share a
        seed draw the same canvas, so each canvas is played ``location_samples`` times."""
        c = self.config
        return [seed + i // c.location_samples for i in range(c.batch_size)]

    def train_batch(self, seed: int) -> dict[str, float]:
        self.generator.manual_seed(seed)
        result = play_batch(
            self.model, self.envs, self.device, self.generator, seed=self.episode_seeds(seed)
        )
        loss = ram_loss(
            result.logits,
            result.labels,
            result.reward,
            result.log_pis,
            result.baselines,
            self.config.reinforce_weight,
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        return {
            "loss": loss.total.item(),
            "classification": loss.classification.item(),
            "reinforce": loss.reinforce.item(),
            "baseline": loss.baseline.item(),
            "correct": float(result.reward.sum()),
            "images": float(len(result.reward)),
        }

    def postfix(self, stats: EpochStats) -> dict[str, str]:
        m = self._train_metrics(stats)
        return {
            "loss": f"{m['train/loss']:.3f}",
            "acc": f"{m['train/accuracy']:.3f}",
            "img/s": f"{m['train/images_per_s']:.0f}",
        }

    @staticmethod
    def _train_metrics(stats: EpochStats) -> dict[str, float]:
        means, images = stats.means(), stats.sums.get("images", 0.0)
        return {
            "train/accuracy": stats.sums.get("correct", 0.0) / max(images, 1),
            "train/loss": means["loss"],
            "train/loss_classification": means["classification"],
            "train/loss_reinforce": means["reinforce"],
            "train/loss_baseline": means["baseline"],
            "train/images_per_s": images / max(stats.seconds, 1e-9),
        }

    def end_epoch(self, epoch: int, step: int, stats: EpochStats) -> dict[str, float]:
        c = self.config
        self.scheduler.step()
        valid = evaluate_ram(self.model, c, "validation", c.valid_episodes, self.device)
        self.epoch = epoch
        if valid["error"] < self.best_valid_error:
            # Before the epoch's checkpoint: a kill in between replays the epoch, and with it
            # this file, instead of resuming past an improvement that was never saved.
            self.best_valid_error = valid["error"]
            position = Position(epoch, 0, step)
            save_position(
                self.run_dir / BEST_FILE, self, kind=KIND, config=c.as_dict(), position=position
            )
        return {
            **self._train_metrics(stats),
            "valid/error": valid["error"],
            "lr": self.scheduler.get_last_lr()[0],
            "epoch": epoch,
        }

    def after_checkpoint(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        c = self.config
        if self.logger is not None:
            self.logger.log(metrics, step=epoch)
        tqdm.write(
            f"epoch {epoch}: train acc {metrics['train/accuracy']:.3f}  "
            f"valid error {metrics['valid/error']:.3f}  {metrics['train/images_per_s']:.0f} img/s"
        )
        if (
            self.wandb
            and self.logger is not None
            and (epoch % c.media_every == 0 or epoch == c.epochs)
        ):
            log_glimpse_media(self.model, c, self.device, self.run_dir, self.logger, epoch)

    # -- running ---------------------------------------------------------------------------
    def restore(self) -> None:
        """Load the run's checkpoint; one of another model raises ``CheckpointError``."""
        load_position(
            self.run_dir / CHECKPOINT_FILE,
            self,
            kind=KIND,
            config=self.config.as_dict(),
            compare_keys=RESUME_KEYS,
            defaults=DEFAULTS,
        )

    def run(self, logger: RunLogger) -> bool:
        """Train to ``config.epochs``; False when stopped early by Ctrl-C (checkpoint saved)."""
        self.logger = logger
        return train_epochs(
            self,
            path=self.run_dir / CHECKPOINT_FILE,
            kind=KIND,
            config=self.config.as_dict(),
            compare_keys=RESUME_KEYS,
            defaults=DEFAULTS,
            epochs=self.config.epochs,
            seed=self.config.seed,
            progress=self.progress,
        )


def finish_ram_run(
    trainer: RAMTrainer, logger: RunLogger, test_episodes: int | None = None
) -> dict:
    """Test-split evaluation of the best-on-validation weights; written to eval.json."""
    best = load_checkpoint(trainer.run_dir / BEST_FILE, expected_kind=KIND)
    load_weights(trainer.model, best["model"], trainer.run_dir / BEST_FILE)
    report = evaluate_ram(trainer.model, trainer.config, "test", test_episodes, trainer.device)
    report["best_epoch_valid_error"] = best["best_valid_error"]
    write_json(trainer.run_dir / EVAL_FILE, report)
    logger.log({"test/error": report["error"]}, step=trainer.epoch)
    logger.log_artifact(trainer.run_dir / BEST_FILE, name=f"ram-{trainer.run_dir.name}")
    return report


def resume_config(run_dir: str | Path, **overrides) -> RAMRunConfig:
    """The run's saved config; only ``RESUMABLE_CHANGES`` may change on resume."""
    saved = read_run(run_dir, KIND, RAMRunConfig)
    allowed = set(RESUMABLE_CHANGES)
    changed = {k: v for k, v in overrides.items() if v is not None and getattr(saved, k) != v}
    refused = sorted(set(changed) - allowed)
    if refused:
        raise ValueError(f"cannot change {refused} when resuming {run_dir}; only {sorted(allowed)}")
    return dataclasses.replace(saved, **changed)


def run_ram(
    config: RAMRunConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    wandb: bool = False,
    progress: bool = True,
) -> dict | None:
    """Train (or continue) a RAM run; returns the test report, or None when stopped early."""
    run_dir = Path(run_dir)
    # The trainer first: a bad env, data folder or device fails before the run's folder exists.
    trainer = RAMTrainer(config, run_dir, wandb=wandb, progress=progress)
    try:
        with locked(run_dir):
            if resume and (run_dir / CHECKPOINT_FILE).exists():
                trainer.restore()  # refuses another run's checkpoint before anything is written
            start_run_dir(run_dir, config.as_dict(), KIND, resume=resume)
            return _train_and_test(trainer, run_dir, wandb)
    finally:
        trainer.envs.close()


def _train_and_test(trainer: RAMTrainer, run_dir: Path, wandb: bool) -> dict | None:
    config = trainer.config
    with RunLogger(
        run_dir, config.as_dict(), wandb=wandb, run_name=run_dir.name, project="rnnagents-ram"
    ) as logger:
        if not trainer.run(logger):
            print(
                f"Stopped; checkpoint saved. Resume with: rnnagents train ram --resume {run_dir}",
                file=sys.stderr,
            )
            return None
        return finish_ram_run(trainer, logger)

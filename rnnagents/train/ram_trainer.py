"""Training loop of the Recurrent Attention Model (hybrid supervised + REINFORCE loss).

Every epoch seeds its episodes from (seed, epoch), and a checkpoint at a batch boundary holds
every random state, so a run stopped anywhere and resumed ends with the same weights as one
that never stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from rnnagents.agents.ram import RecurrentAttentionModel, ram_loss
from rnnagents.train.checkpoint import load_checkpoint, save_checkpoint
from rnnagents.train.config import resolve_device, write_json
from rnnagents.train.interrupt import StopRequest
from rnnagents.train.ram_config import MODEL_KEYS, RAMRunConfig
from rnnagents.train.ram_eval import evaluate_ram
from rnnagents.train.ram_rollout import glimpse_pixels, make_glimpse_vec_env, play_batch
from rnnagents.train.run_dir import BEST_FILE, CHECKPOINT_FILE
from rnnagents.train.run_logger import RunLogger

KIND = "ram"


@dataclass
class EpochSums:
    """Running training statistics of the current epoch (checkpointed with it)."""

    batches: int = 0
    images: int = 0
    correct: float = 0.0
    loss: float = 0.0
    classification: float = 0.0
    reinforce: float = 0.0
    baseline: float = 0.0
    seconds: float = 0.0

    def as_metrics(self) -> dict[str, float]:
        b = max(self.batches, 1)
        return {
            "train/accuracy": self.correct / max(self.images, 1),
            "train/loss": self.loss / b,
            "train/loss_classification": self.classification / b,
            "train/loss_reinforce": self.reinforce / b,
            "train/loss_baseline": self.baseline / b,
            "train/images_per_s": self.images / max(self.seconds, 1e-9),
        }


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches completed in the current epoch
    best_valid_error: float = float("inf")
    sums: EpochSums = field(default_factory=EpochSums)


def epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def build_model(config: RAMRunConfig, glimpse_size_pixels: int, device) -> RecurrentAttentionModel:
    return RecurrentAttentionModel(config.model_config(glimpse_size_pixels)).to(device)


class RAMTrainer:
    """Owns the model, optimizer, envs and random states of one run directory."""

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
        self.envs = make_glimpse_vec_env(
            config.env_id, config.batch_size, "train", **config.env_kwargs()
        )
        torch.manual_seed(config.seed)  # the initial weights
        self.model = build_model(config, glimpse_pixels(self.envs), self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, config.lr_decay)
        self.generator = torch.Generator(device=self.device)
        self.state = TrainState()

    # -- checkpoints ---------------------------------------------------------------------
    def save(self, path: Path | None = None) -> None:
        env_rngs = [g.bit_generator.state for g in self.envs.unwrapped.rngs or []]
        save_checkpoint(
            path or self.run_dir / CHECKPOINT_FILE,
            {
                "kind": KIND,
                "config": self.config.as_dict(),
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "generator": self.generator.get_state(),
                "env_rngs": env_rngs,
                "epoch": self.state.epoch,
                "batch": self.state.batch,
                "best_valid_error": self.state.best_valid_error,
                "sums": vars(self.state.sums).copy(),
            },
        )

    def restore(self) -> None:
        ckpt = load_checkpoint(
            self.run_dir / CHECKPOINT_FILE,
            expected_kind=KIND,
            expected_config=self.config.as_dict(),
            compare_keys=MODEL_KEYS,
        )
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.generator.set_state(ckpt["generator"])
        if ckpt["env_rngs"]:
            rngs = [np.random.Generator(np.random.PCG64()) for _ in ckpt["env_rngs"]]
            for rng, state in zip(rngs, ckpt["env_rngs"], strict=True):
                rng.bit_generator.state = state
            self.envs.unwrapped.rngs = rngs
        self.state = TrainState(
            ckpt["epoch"], ckpt["batch"], ckpt["best_valid_error"], EpochSums(**ckpt["sums"])
        )

    # -- training ------------------------------------------------------------------------
    def train_batch(self, seed: int | None) -> None:
        c, sums = self.config, self.state.sums
        start = time.perf_counter()
        result = play_batch(self.model, self.envs, self.device, self.generator, seed=seed)
        loss = ram_loss(
            result.logits,
            result.labels,
            result.reward,
            result.log_pis,
            result.baselines,
            c.reinforce_weight,
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.max_grad_norm)
        self.optimizer.step()
        sums.batches += 1
        sums.images += len(result.reward)
        sums.correct += float(result.reward.sum())
        sums.loss += loss.total.item()
        sums.classification += loss.classification.item()
        sums.reinforce += loss.reinforce.item()
        sums.baseline += loss.baseline.item()
        sums.seconds += time.perf_counter() - start

    def run(self, logger: RunLogger) -> bool:
        """Train to ``config.epochs``; False when stopped early by Ctrl-C (checkpoint saved)."""
        c = self.config
        with StopRequest() as stop:
            while self.state.epoch < c.epochs:
                e = self.state.epoch
                if self.state.batch == 0:
                    self.generator.manual_seed(epoch_seed(c.seed, e))
                bar = tqdm(
                    total=c.batches_per_epoch,
                    initial=self.state.batch,
                    desc=f"epoch {e + 1}/{c.epochs}",
                    disable=not self.progress,
                    leave=False,
                )
                while self.state.batch < c.batches_per_epoch:
                    if stop.requested:
                        bar.close()
                        self.save()
                        return False
                    fresh = self.state.batch == 0
                    self.train_batch(epoch_seed(c.seed, e) if fresh else None)
                    self.state.batch += 1
                    bar.update()
                    bar.set_postfix(self._postfix())
                bar.close()
                self.end_epoch(logger)
        return True

    def _postfix(self) -> dict[str, str]:
        m = self.state.sums.as_metrics()
        return {
            "loss": f"{m['train/loss']:.3f}",
            "acc": f"{m['train/accuracy']:.3f}",
            "img/s": f"{m['train/images_per_s']:.0f}",
        }

    def end_epoch(self, logger: RunLogger) -> None:
        c, s = self.config, self.state
        self.scheduler.step()
        valid = evaluate_ram(self.model, c, "validation", c.valid_episodes, self.device)
        metrics = s.sums.as_metrics()
        metrics.update(
            {
                "valid/error": valid["error"],
                "lr": self.scheduler.get_last_lr()[0],
                "epoch": s.epoch + 1,
            }
        )
        s.epoch, s.batch, s.sums = s.epoch + 1, 0, EpochSums()
        improved = valid["error"] < s.best_valid_error
        if improved:
            s.best_valid_error = valid["error"]
        logger.log(metrics, step=s.epoch)
        self.save()
        if improved:
            self.save(self.run_dir / BEST_FILE)
        tqdm.write(
            f"epoch {s.epoch}: train acc {metrics['train/accuracy']:.3f}  "
            f"valid error {valid['error']:.3f}  {metrics['train/images_per_s']:.0f} img/s"
        )
        if self.wandb and (s.epoch % c.media_every == 0 or s.epoch == c.epochs):
            from rnnagents.train.ram_watch import log_glimpse_media

            log_glimpse_media(self.model, c, self.device, self.run_dir, logger, s.epoch)


def finish_ram_run(
    trainer: RAMTrainer, logger: RunLogger, test_episodes: int | None = None
) -> dict:
    """Test-split evaluation of the best-on-validation weights; written to eval_test.json."""
    best = load_checkpoint(trainer.run_dir / BEST_FILE, expected_kind=KIND)
    trainer.model.load_state_dict(best["model"])
    report = evaluate_ram(trainer.model, trainer.config, "test", test_episodes, trainer.device)
    report["best_epoch_valid_error"] = best["best_valid_error"]
    write_json(trainer.run_dir / "eval_test.json", report)
    logger.log({"test/error": report["error"]}, step=trainer.state.epoch)
    logger.log_artifact(trainer.run_dir / BEST_FILE, name=f"ram-{trainer.run_dir.name}")
    return report

"""Training V (the VAE, on frame shards) and M (the MDN-RNN, on latent shards).

Both train through the one resumable epoch loop (``rnnagents.train.loop``): checkpoints go to
``out_path`` every epoch, a run resumes from there, and a Ctrl-C returns False after saving.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from rnnagents.common.run_logger import RunLogger
from rnnagents.common.video import tile_frames
from rnnagents.envs.carracing import OFF_PLAYFIELD_REWARD, STEP_REWARD
from rnnagents.train.loop import EpochStats, train_epochs
from rnnagents.worldmodel import mdnrnn as memory
from rnnagents.worldmodel import vae as vision
from rnnagents.worldmodel.config import MDN_KEYS, VAE_KEYS, WorldModelConfig
from rnnagents.worldmodel.heldout import heldout_metrics
from rnnagents.worldmodel.shards import (
    LATENTS,
    iter_frames,
    iter_sequences,
    list_shards,
    read_shard,
)


class _NetworkTask:
    """Model and optimizer in the checkpoint, metrics under ``prefix/`` with a per-second rate
    of the ``count`` metric (frames, steps) instead of its mean."""

    prefix: str
    count: str

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, logger, progress):
        self.model, self.optimizer = model, optimizer
        self.logger, self.progress = logger, progress

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])

    def postfix(self, stats: EpochStats) -> dict[str, str]:
        return {"loss": f"{stats.means()['loss']:.3f}"}

    def end_epoch(self, epoch: int, step: int, stats: EpochStats) -> dict[str, float]:
        p = self.prefix
        metrics = {f"{p}/{key}": value for key, value in stats.means().items() if key != self.count}
        rate = stats.sums.get(self.count, 0.0) / max(stats.seconds, 1e-9)
        return {**metrics, f"{p}/{self.count}_per_s": rate, f"{p}/epoch": epoch}

    def after_checkpoint(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        self.logger.log(metrics, step=step)
        if self.progress:
            p = self.prefix
            tqdm.write(
                f"{p} epoch {epoch}: loss {metrics[f'{p}/loss']:.3f}, "
                f"{metrics[f'{p}/{self.count}_per_s']:.0f} {self.count}/s"
            )


class _VAETask(_NetworkTask):
    prefix, count = "vae", "frames"
    kind, keys, epochs, after = vision.KIND, VAE_KEYS, "vae_epochs", "collect"

    def __init__(self, shards, config: WorldModelConfig, device, logger, progress) -> None:
        torch.manual_seed(config.seed)  # initial weights; a resumed run loads its own
        model = vision.ConvVAE(config.z_dim).to(device)
        super().__init__(
            model, torch.optim.Adam(model.parameters(), lr=config.vae_lr), logger, progress
        )
        self.shards, self.config, self.device = shards, config, device
        sample = read_shard(shards[0])["frames"]
        self.sample = sample[np.linspace(0, len(sample) - 1, 8).astype(int)]

    def batches(self, rng: np.random.Generator) -> Iterator[np.ndarray]:
        c = self.config
        return iter_frames(self.shards, c.vae_batch_size, rng, c.vae_shards_in_memory)

    def train_batch(self, frames: np.ndarray) -> dict[str, float]:
        x = vision.frames_to_tensor(frames, self.device)
        loss = vision.vae_loss(x, *self.model(x), kl_tolerance=self.config.vae_kl_tolerance)
        self.optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        self.optimizer.step()
        return {
            "loss": loss.total.item(),
            "reconstruction": loss.reconstruction.item(),
            "kl": loss.kl.item(),
            "frames": float(len(x)),
        }

    def after_checkpoint(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        super().after_checkpoint(epoch, step, metrics)
        self.logger.log_image("vae/reconstructions", self.reconstruction_panel(), step=step)

    @torch.no_grad()
    def reconstruction_panel(self) -> np.ndarray:
        """The sample frames (top row) over their reconstructions from the posterior mean."""
        self.model.eval()
        x = vision.frames_to_tensor(self.sample, self.device)
        recon = self.model.decode(self.model.encode(x)[0])
        self.model.train()
        frames = (recon.permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
        return tile_frames([list(self.sample), list(frames)])


class _MDNRNNTask(_NetworkTask):
    prefix, count = "mdnrnn", "steps"
    kind, keys, epochs, after = memory.KIND, MDN_KEYS, "mdn_epochs", "encode"

    def __init__(self, shards, config: WorldModelConfig, device, logger, progress) -> None:
        torch.manual_seed(config.seed)  # initial weights; a resumed run loads its own
        model = memory.build_mdnrnn(config).to(device)
        super().__init__(
            model, torch.optim.Adam(model.parameters(), lr=config.mdn_lr), logger, progress
        )
        self.shards, self.heldout = split_heldout(shards, config.mdn_holdout_episodes)
        self.config, self.device = config, device
        events = event_stats(self.shards)
        model.tile_reward.fill_(events.tile_reward)
        with torch.no_grad():  # heads start at the events' base rates; see event_stats
            model.tile_head.bias.fill_(_logit(events.tile_rate))
            model.done_head.bias.fill_(_logit(events.end_rate))

    def batches(self, rng: np.random.Generator) -> Iterator[dict[str, np.ndarray]]:
        c = self.config
        return iter_sequences(self.shards, c.mdn_seq_len, c.mdn_batch_size, rng)

    def train_batch(self, arrays: dict[str, np.ndarray]) -> dict[str, float]:
        batch = {key: torch.from_numpy(value).to(self.device) for key, value in arrays.items()}
        loss = memory.mdnrnn_loss(
            self.model,
            batch,
            self.config.mdn_done_pos_weight,
            regress_reward=self.config.dream_reward == "regression",
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.config.mdn_grad_clip)
        self.optimizer.step()
        return {
            "loss": loss.total.item(),
            "mdn": loss.mdn.item(),
            "reward": loss.reward.item(),
            "tile": loss.tile.item(),
            "done": loss.done.item(),
            "steps": float(arrays["mask"].sum()),
        }

    def end_epoch(self, epoch: int, step: int, stats: EpochStats) -> dict[str, float]:
        metrics = super().end_epoch(epoch, step, stats)
        if self.heldout:
            held = heldout_metrics(self.model, self.heldout, self.config.dream_reward, self.device)
            metrics.update({f"{self.prefix}/{key}": value for key, value in held.items()})
        return metrics


def split_heldout(shards: list[Path], heldout: int) -> tuple[list[Path], list[Path]]:
    """(training shards, the last ``heldout`` shards); at least one shard is left to train on."""
    if heldout >= len(shards):
        raise ValueError(f"cannot hold out {heldout} of {len(shards)} episodes")
    return shards[: len(shards) - heldout], shards[len(shards) - heldout :]


class EventStats(NamedTuple):
    tile_reward: float  # mean reward of a step that reaches new tiles, less the step's -0.1
    tile_rate: float  # fraction of steps that reach a new tile
    end_rate: float  # fraction of steps that leave the playfield


def event_stats(shards: list[Path]) -> EventStats:
    """CarRacing's reward events in these episodes: what a new tile pays and how often each
    event happens.

    A step with new tiles pays -0.1 plus the tiles' reward (1000 / tiles of the track each);
    steps with two tiles count twice, which is what "a new tile this step" stands for on
    average. The rates initialise the heads' biases: leaving the playfield happens on about one
    step in 7000, and a head started at probability 1/2 was measured still predicting 1e-3 per
    step (seven times the real rate) after M's 180 updates of the default preset, enough for the
    dream's -100 per end to outweigh every tile (mean p_end * 100 = 0.1 per step).
    """
    rewards, ends = [], []
    for path in shards:
        shard = read_shard(path, LATENTS)
        rewards.append(shard["rewards"])
        ends.append(shard["terminations"] & (shard["rewards"] <= OFF_PLAYFIELD_REWARD))
    rewards, ends = np.concatenate(rewards), np.concatenate(ends)
    paid = rewards[rewards > 0] - STEP_REWARD
    tile_reward = float(paid.mean()) if len(paid) else 1000.0 / 300.0  # a typical track's tiles
    return EventStats(tile_reward, float(np.mean(rewards > 0)), float(ends.mean()))


def _logit(rate: float) -> float:
    rate = min(max(rate, 1e-5), 0.5)  # no event seen: rare, not impossible
    return math.log(rate / (1.0 - rate))


def _fit(task_class, source, out_path, config: WorldModelConfig, device, logger, progress) -> bool:
    shards = list_shards(source)
    if not shards:
        raise FileNotFoundError(f"no shards in {source}; run the {task_class.after} stage first")
    return train_epochs(
        task_class(shards, config, device, logger, progress),
        path=out_path,
        kind=task_class.kind,
        config=config.as_dict(),
        compare_keys=task_class.keys,
        epochs=getattr(config, task_class.epochs),
        seed=config.seed,
        progress=progress,
    )


def train_vae(
    shard_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    config: WorldModelConfig,
    device: torch.device | str,
    logger: RunLogger,
    progress: bool = True,
) -> bool:
    """Train V to ``config.vae_epochs`` on the frame shards in ``shard_dir`` (kind "vae")."""
    return _fit(_VAETask, shard_dir, out_path, config, device, logger, progress)


def train_mdnrnn(
    latent_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    config: WorldModelConfig,
    device: torch.device | str,
    logger: RunLogger,
    progress: bool = True,
) -> bool:
    """Train M to ``config.mdn_epochs`` on windows of ``mdn_seq_len`` steps of latent shards."""
    return _fit(_MDNRNNTask, latent_dir, out_path, config, device, logger, progress)

"""Error rate of a RAM on a split, with one location sample (M=1) and optionally M > 1;
and reading a trained RAM back from its run directory."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from rnnagents.agents.ram import RecurrentAttentionModel
from rnnagents.common.checkpoint import load_checkpoint, load_weights
from rnnagents.common.device import resolve_device
from rnnagents.common.files import write_json
from rnnagents.common.run_dir import BEST_FILE, CHECKPOINT_FILE, read_run
from rnnagents.common.stats import EVAL_FILE, error_report
from rnnagents.envs.glimpse_task import EVAL_SEED
from rnnagents.train.ram.config import DEFAULTS, RESUME_KEYS, RAMRunConfig
from rnnagents.train.ram.rollout import glimpse_pixels, make_glimpse_vec_env, play_batch


@torch.no_grad()
def evaluate_ram(
    model: RecurrentAttentionModel,
    config: RAMRunConfig,
    split: str,
    episodes: int | None,
    device: torch.device,
    samples: int = 1,
    batch_size: int = 250,
    seed: int = EVAL_SEED,
) -> dict:
    """Play ``episodes`` episodes of ``split`` (None: as many as it has digits); M=1 error
    from the env's reward.

    With ``samples`` M > 1, every episode is played M times (sub-envs seeded alike, so they
    share the canvas) with independent location samples, and the class probabilities are
    averaged: reported separately as ``error_mc``, never in place of the M=1 figure.
    """
    if (episodes is not None and episodes < 1) or samples < 1:
        raise ValueError(f"need episodes >= 1 and samples >= 1, got {episodes}, {samples}")
    if episodes is None:
        probe = make_glimpse_vec_env(config.env_id, 1, split, **config.env_kwargs())
        episodes = len(probe.unwrapped.task.images)
        probe.close()
    batch = min(batch_size, episodes)
    envs = make_glimpse_vec_env(config.env_id, batch * samples, split, **config.env_kwargs())
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    seeds = [seed + i for _ in range(samples) for i in range(batch)]
    wrong = wrong_mc = seen = 0
    for b in range(math.ceil(episodes / batch)):
        result = play_batch(model, envs, device, generator, seed=seeds if b == 0 else None)
        keep = min(batch, episodes - seen)
        wrong += int((result.reward[:keep] < 0.5).sum())
        if samples > 1:
            probs = result.logits.softmax(-1).view(samples, batch, -1).mean(0)
            wrong_mc += int((probs.argmax(-1)[:keep] != result.labels[:keep]).sum())
        seen += keep
    envs.close()
    model.train()
    report = error_report(split, wrong, seen)
    if samples > 1:
        report.update(samples=samples, error_mc=wrong_mc / seen)
    return report


def load_ram(run_dir: str | Path, device: torch.device, best: bool = True):
    """(model, config) from a run directory's best (or latest) checkpoint."""
    run_dir = Path(run_dir)
    config = read_run(run_dir, "ram", RAMRunConfig)
    path = run_dir / (BEST_FILE if best and (run_dir / BEST_FILE).exists() else CHECKPOINT_FILE)
    ckpt = load_checkpoint(
        path,
        expected_kind="ram",
        expected_config=config.as_dict(),
        compare_keys=RESUME_KEYS,
        defaults=DEFAULTS,
    )
    envs = make_glimpse_vec_env(config.env_id, 1, "test", **config.env_kwargs())
    model = RecurrentAttentionModel(config.model_config(glimpse_pixels(envs))).to(device)
    envs.close()
    load_weights(model, ckpt["model"], path)
    return model.eval(), config


def evaluate_run(
    run_dir: str | os.PathLike,
    *,
    split: str = "test",
    episodes: int = 1000,
    samples: int = 1,
    device: str = "auto",
) -> dict:
    """Score a RAM run's best weights on ``split``; the report also goes to RUN_DIR/eval.json."""
    torch_device = resolve_device(device)
    model, config = load_ram(run_dir, torch_device)
    report = evaluate_ram(model, config, split, episodes, torch_device, samples=samples)
    write_json(Path(run_dir) / EVAL_FILE, report)
    return report

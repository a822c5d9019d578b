"""Error rate of a RAM on a split, with one location sample (M=1) and optionally M > 1."""

from __future__ import annotations

import math

import torch

from rnnagents.agents.ram import RecurrentAttentionModel
from rnnagents.train.ram_config import RAMRunConfig
from rnnagents.train.ram_rollout import make_glimpse_vec_env, play_batch
from rnnagents.train.stats import wilson_interval

EVAL_SEED = 20_140_624  # fixed: every evaluation of a split sees the same episodes


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
    low, high = wilson_interval(wrong, seen)
    report = {"split": split, "episodes": seen, "error": wrong / seen, "error_ci95": [low, high]}
    if samples > 1:
        report.update(samples=samples, error_mc=wrong_mc / seen)
    return report

"""How well M predicts held-out real episodes: the numbers that say whether its dream can be
trusted before any controller is trained in it.

Each episode is run through M teacher-forced (its real latents and actions); the dream's reward
for each step (as the run's ``dream_reward`` assembles it, before survival weighting) is compared
with the real reward, per step and summed over the episode, and the two event heads are scored
against the real events.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from rnnagents.worldmodel.dream import event_reward
from rnnagents.worldmodel.mdnrnn import MDNRNN, mdn_loss, off_playfield, tile_events
from rnnagents.worldmodel.shards import LATENTS, read_shard


@torch.no_grad()
def heldout_metrics(
    model: MDNRNN, shards: Sequence[Path], dream_reward: str, device="cpu"
) -> dict[str, float]:
    """``heldout/*`` metrics of ``model`` on the latent ``shards`` (eval mode, z = mu).

    ``reward_mse``: per-step squared error of the dream reward; ``return_error``: mean absolute
    error of its episode sums; ``tile_p_on`` / ``tile_p_off``: mean predicted new-tile
    probability on steps with / without a new tile; ``end_p_on`` / ``end_p_off``: the same for
    leaving the playfield (nan without such a step); ``end_fires``: fraction of those steps on
    which the termination head passes 0.5.
    """
    was_training = model.training
    model.eval()
    nll, errors, return_errors, tile, end = [], [], [], [[], []], [[], []]
    for path in shards:
        shard = read_shard(path, LATENTS)
        mu = torch.from_numpy(shard["mu"]).to(device)[None]
        actions = torch.from_numpy(shard["actions"]).to(device)[None]
        rewards = torch.from_numpy(shard["rewards"]).to(device)
        out, heads, _ = model(mu, actions)
        heads = type(heads)(*(t[0] for t in heads))
        if len(rewards) > 1:
            nll.append(float(mdn_loss(type(out)(*(t[0, :-1] for t in out)), mu[0, 1:])))
        predicted = (
            heads.reward
            if dream_reward == "regression"
            else event_reward(heads, model.tile_reward)[0]
        )
        errors.append(((predicted - rewards) ** 2).cpu().numpy())
        return_errors.append(abs(float(predicted.sum() - rewards.sum())))
        terminations = torch.from_numpy(shard["terminations"]).to(device)
        for split, events, logits in (
            (tile, tile_events(rewards), heads.tile_logit),
            (end, off_playfield(rewards, terminations), heads.done_logit),
        ):
            p = torch.sigmoid(logits).cpu().numpy()
            events = events.cpu().numpy()
            split[0].append(p[events])
            split[1].append(p[~events])
    model.train(was_training)
    tile_on, tile_off, end_on, end_off = (np.concatenate(part) for part in (*tile, *end))
    return {
        "heldout/nll": float(np.mean(nll)) if nll else float("nan"),
        "heldout/reward_mse": float(np.concatenate(errors).mean()),
        "heldout/return_error": float(np.mean(return_errors)),
        "heldout/tile_p_on": _mean(tile_on),
        "heldout/tile_p_off": _mean(tile_off),
        "heldout/end_p_on": _mean(end_on),
        "heldout/end_p_off": _mean(end_off),
        "heldout/end_fires": _mean(end_on > 0.5),
    }


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")

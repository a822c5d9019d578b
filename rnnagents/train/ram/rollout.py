"""One batch of RAM episodes played through the Gymnasium vector-env API.

Training, validation, evaluation and watching all go through :func:`play_batch`, so the agent
sees the task only as the env presents it: glimpses in, locations and a class out, the label
from ``info`` at termination. There is no second, private copy of the glimpse sensor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from rnnagents.agents.ram import RecurrentAttentionModel


@dataclass
class BatchResult:
    logits: torch.Tensor  # [B, classes] from the final state
    labels: torch.Tensor  # [B] from info at termination
    reward: torch.Tensor  # [B] the env's reward: 1 where the class was right
    log_pis: torch.Tensor  # [B, T-1] for the locations that were used for a glimpse
    baselines: torch.Tensor  # [B, T-1]
    locations: np.ndarray  # [B, T, 2] every glimpse location, first one included


def make_glimpse_vec_env(
    env_id: str, num_envs: int, split: str, **env_kwargs
) -> gym.vector.VectorEnv:
    """The native vector env of a glimpse id (never a Python loop over sub-envs)."""
    try:
        return gym.make_vec(
            env_id,
            num_envs=num_envs,
            vectorization_mode="vector_entry_point",
            split=split,
            **env_kwargs,
        )
    except gym.error.Error as err:
        raise ValueError(
            f"cannot make glimpse env {env_id!r}: {err} "
            "(`rnnagents env list` shows the registered ids)"
        ) from err


def glimpse_pixels(env: gym.vector.VectorEnv) -> int:
    return int(np.prod(env.single_observation_space["glimpse"].shape))


def play_batch(
    model: RecurrentAttentionModel,
    envs: gym.vector.VectorEnv,
    device: torch.device,
    generator: torch.Generator | None,
    seed: int | list[int] | None = None,
    observer: Callable[[int, dict, torch.Tensor | None], None] | None = None,
) -> BatchResult:
    """Reset ``envs`` and play one full episode in every sub-env; grads flow if enabled.

    ``observer(t, obs, logits)`` sees every observation (t = 0 after reset) before the agent
    acts on it, and the final logits with the terminal one: this is how ``watch`` films.
    """
    obs, _ = envs.reset(seed=seed)
    n = envs.num_envs
    n_glimpses = envs.unwrapped.config.n_glimpses
    state = model.initial_state(n, device)
    hs, samples, means, locations = [], [], [], [obs["location"]]
    for t in range(n_glimpses):
        glimpse = torch.from_numpy(obs["glimpse"]).to(device, non_blocking=True)
        where = torch.from_numpy(obs["location"]).to(device, non_blocking=True)
        h, state = model.step(glimpse, where, state)
        if t < n_glimpses - 1:
            loc, sample, mean = model.propose(h, generator)
            hs.append(h)
            samples.append(sample)
            means.append(mean)
            action = {"location": loc.cpu().numpy(), "class": np.zeros(n, dtype=np.int64)}
        else:
            logits = model.classify(h)
            classes = logits.argmax(-1).cpu().numpy()
            action = {"location": np.zeros((n, 2), dtype=np.float32), "class": classes}
        if observer is not None:
            observer(t, obs, None)
        obs, reward, terminated, _, info = envs.step(action)
        if t < n_glimpses - 1:
            locations.append(obs["location"])
    if observer is not None:
        observer(n_glimpses, obs, logits)
    if not terminated.all():
        raise RuntimeError("glimpse episodes did not terminate after n_glimpses steps")
    empty = torch.zeros(n, 0, device=device)
    return BatchResult(
        logits=logits,
        labels=torch.from_numpy(info["label"]).to(device),
        reward=torch.from_numpy(reward).to(device, torch.float32),
        log_pis=model.log_pi(torch.stack(samples, 1), torch.stack(means, 1)) if hs else empty,
        baselines=model.baseline(torch.stack(hs, 1)) if hs else empty,
        locations=np.stack(locations, 1),
    )

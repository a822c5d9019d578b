"""The World Models agent in the real game: V sees, M remembers, an actor acts.

Per frame: z = V's posterior mean of the frame, a = actor(z, h), then M advances its state with
(z, a). That is the ``[z, h]`` the dream showed its agent, so whatever learned to act in the
dream drives the real car unchanged: the CMA-ES controller C (:class:`ControllerActor`) or a PPO
model trained in the dream (``rnnagents.agents.sb3_policy.LatentSB3Actor``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from rnnagents.agents.controller import BatchedController
from rnnagents.worldmodel import run_files
from rnnagents.worldmodel.mdnrnn import MDNRNN
from rnnagents.worldmodel.vae import ConvVAE, frames_to_tensor


class LatentActor(Protocol):
    """Maps V's latent ``z`` [1, Z] and M's hidden state ``h`` [1, H] to an action [1, 3]."""

    def reset(self) -> None:
        """Forget the last episode (an actor with a memory of its own clears it)."""

    def __call__(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor: ...


class ControllerActor:
    """C with CMA-ES's parameters; M's ``h`` is its only memory, so there is nothing to reset."""

    def __init__(self, params: np.ndarray, device="cpu") -> None:
        self.controller = BatchedController(params, device=torch.device(device))

    def reset(self) -> None:
        """C keeps no state between steps."""

    def __call__(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.controller.act(z, h)


class WorldModelPolicy:
    """Callable ``frame (64x64x3 uint8) -> action``; call ``reset()`` before each episode."""

    def __init__(self, vae: ConvVAE, mdnrnn: MDNRNN, actor: LatentActor, device="cpu") -> None:
        self.vae, self.mdnrnn, self.actor = vae, mdnrnn, actor
        self.device = torch.device(device)
        self.reset()

    def reset(self) -> None:
        self.state = self.mdnrnn.initial_state(1, self.device)
        self.z: torch.Tensor | None = None
        self.actor.reset()

    @torch.no_grad()
    def __call__(self, frame: np.ndarray) -> np.ndarray:
        mu, _ = self.vae.encode(frames_to_tensor(frame[None], self.device))
        action = self.actor(mu, self.state[0])
        _, _, self.state = self.mdnrnn.step(mu, action, self.state)
        self.z = mu
        return action[0].cpu().numpy()


@functools.lru_cache(maxsize=2)
def _world_model(run_dir: str, weights_stamp: tuple[int, ...]) -> tuple[ConvVAE, MDNRNN]:
    vae, mdnrnn, _ = run_files.load_dream_parts(run_dir)
    return vae, mdnrnn


def cached_world_model(run_dir: str | os.PathLike) -> tuple[ConvVAE, MDNRNN]:
    """V and M of a run, loaded once per process for as long as their files are unchanged
    (the modification times of their checkpoints key the cache: a retrained M is reloaded)."""
    stamp = tuple(
        os.stat(Path(run_dir) / name).st_mtime_ns for name in (run_files.VAE, run_files.MDNRNN)
    )
    return _world_model(str(run_dir), stamp)


def controller_policy(run_dir: str | os.PathLike, params: np.ndarray) -> WorldModelPolicy:
    """The run's current V and M driven by controller ``params`` (V and M cached per process)."""
    vae, mdnrnn = cached_world_model(run_dir)
    return WorldModelPolicy(vae, mdnrnn, ControllerActor(np.asarray(params, dtype=np.float32)))


@dataclass(frozen=True)
class ControllerFactory:
    """A picklable recipe for :func:`controller_policy`, for worker processes: called with the
    episode's random generator (which a controller, being deterministic, ignores)."""

    run_dir: str
    params: tuple[float, ...] = field(repr=False)

    @classmethod
    def of(cls, run_dir: str | os.PathLike, params: np.ndarray) -> ControllerFactory:
        return cls(str(run_dir), tuple(float(p) for p in params))

    def __call__(self, rng: np.random.Generator | None = None) -> WorldModelPolicy:
        return controller_policy(self.run_dir, np.asarray(self.params))

"""The World Models agent in the real game: V sees, M remembers, an actor acts.

Per frame: z = V's posterior mean of the frame, a = actor(z, h), then M advances its state with
(z, a). That is the ``[z, h]`` the dream showed its agent, so whatever learned to act in the
dream drives the real car unchanged: the CMA-ES controller C (:class:`ControllerActor`) or a PPO
model trained in the dream (``rnnagents.agents.sb3_policy.LatentSB3Actor``).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from rnnagents.agents.controller import BatchedController
from rnnagents.agents.exploration import NoisyPolicy, Policy
from rnnagents.worldmodel import run_files
from rnnagents.worldmodel.config import WorldModelConfig
from rnnagents.worldmodel.mdnrnn import MDNRNN, build_mdnrnn
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


@dataclass(frozen=True)
class WorldModelWeights:
    """V's and M's weights as bytes, with the config that shapes them: all a worker needs to
    rebuild the world model, so scoring a policy never reads the run directory (a cluster
    needs no shared filesystem). Compared and hashed by ``digest`` alone, so each worker
    process builds V and M once however many episodes it plays."""

    digest: str
    config: WorldModelConfig = field(compare=False, repr=False)
    vae: bytes = field(compare=False, repr=False)
    mdnrnn: bytes = field(compare=False, repr=False)

    @classmethod
    def of(cls, vae: ConvVAE, mdnrnn: MDNRNN, config: WorldModelConfig) -> WorldModelWeights:
        digest = hashlib.sha1()
        for model in (vae, mdnrnn):  # the tensors' values: the same weights, the same digest
            for name, tensor in model.state_dict().items():
                digest.update(name.encode() + tensor.detach().cpu().numpy().tobytes())
        return cls(digest.hexdigest(), config, _state_bytes(vae), _state_bytes(mdnrnn))

    @classmethod
    def of_run(cls, run_dir: str | os.PathLike) -> WorldModelWeights:
        """The V and M of a run whose V and M stages are complete."""
        vae, mdnrnn = run_files.load_world_model(run_dir)
        return cls.of(vae, mdnrnn, run_files.run_config(run_dir))

    def build(self) -> tuple[ConvVAE, MDNRNN]:
        """V and M in eval mode on the CPU (they act on one frame at a time), cached."""
        return _built(self)


def _state_bytes(model: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def _state_dict(data: bytes) -> dict:
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


@functools.lru_cache(maxsize=2)
def _built(weights: WorldModelWeights) -> tuple[ConvVAE, MDNRNN]:
    vae, mdnrnn = ConvVAE(weights.config.z_dim), build_mdnrnn(weights.config)
    vae.load_state_dict(_state_dict(weights.vae))
    mdnrnn.load_state_dict(_state_dict(weights.mdnrnn))
    return vae.eval(), mdnrnn.eval()


def controller_policy(weights: WorldModelWeights, params: np.ndarray) -> WorldModelPolicy:
    """The world model ``weights`` driven by controller ``params``."""
    vae, mdnrnn = weights.build()
    return WorldModelPolicy(vae, mdnrnn, ControllerActor(np.asarray(params, dtype=np.float32)))


@dataclass(frozen=True)
class ControllerFactory:
    """A picklable recipe for :func:`controller_policy`, for worker processes: called with the
    episode's random generator, which draws the OU noise of std ``noise`` on C's actions (none
    at 0: C alone is deterministic).

    Measured on the ``default`` preset's runs: a deterministic C that drives at first ends up
    circling off the road with its steering saturated, a fixed point of (z, h) it never leaves;
    the same C plus noise 0.1 gets out and drives on (see the README's World Models table).
    """

    weights: WorldModelWeights
    params: tuple[float, ...] = field(repr=False)
    noise: float = 0.0

    @classmethod
    def of(
        cls, weights: WorldModelWeights, params: np.ndarray, noise: float = 0.0
    ) -> ControllerFactory:
        return cls(weights, tuple(float(p) for p in params), float(noise))

    def __call__(self, rng: np.random.Generator | None = None) -> Policy:
        policy = controller_policy(self.weights, np.asarray(self.params))
        if self.noise == 0:
            return policy
        if rng is None:
            raise ValueError("a controller with action noise needs the episode's generator")
        return NoisyPolicy(policy, rng, self.noise)

"""The World Models agent in the real game: V sees, M remembers, C acts.

Per frame: z = V's posterior mean of the frame, a = C(z, h), then M advances its state with
(z, a). The same controller parameters that CMA-ES found in the dream drive the real car.
"""

from __future__ import annotations

import numpy as np
import torch

from rnnagents.agents.controller import BatchedController
from rnnagents.worldmodel.mdnrnn import MDNRNN
from rnnagents.worldmodel.vae import ConvVAE, frames_to_tensor


class WorldModelPolicy:
    """Callable ``frame (64x64x3 uint8) -> action``; call ``reset()`` before each episode."""

    def __init__(self, vae: ConvVAE, mdnrnn: MDNRNN, params: np.ndarray, device="cpu") -> None:
        self.vae, self.mdnrnn, self.device = vae, mdnrnn, torch.device(device)
        self.controller = BatchedController(params, device=self.device)
        self.reset()

    def reset(self) -> None:
        self.state = self.mdnrnn.initial_state(1, self.device)
        self.z: torch.Tensor | None = None

    @torch.no_grad()
    def __call__(self, frame: np.ndarray) -> np.ndarray:
        mu, _ = self.vae.encode(frames_to_tensor(frame[None], self.device))
        action = self.controller.act(mu, self.state[0])
        _, _, _, self.state = self.mdnrnn.step(mu, action, self.state)
        self.z = mu
        return action[0].cpu().numpy()

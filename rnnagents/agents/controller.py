"""The World Models controller C: a = tanh(W [z, h] + b), 867 parameters for CarRacing.

A whole CMA-ES population is evaluated at once, so the controller is written for a batch of
parameter vectors: ``BatchedController(params [P, 867])`` acts for P candidates (or for
P x R dreams when each candidate's rows are repeated).
"""

from __future__ import annotations

import numpy as np
import torch

Z_DIM, HIDDEN, ACTION_DIM = 32, 256, 3


def n_params(z_dim: int = Z_DIM, hidden: int = HIDDEN, action_dim: int = ACTION_DIM) -> int:
    return action_dim * (z_dim + hidden) + action_dim


def squash(raw: torch.Tensor) -> torch.Tensor:
    """tanh outputs to CarRacing's bounds: steer = tanh, gas/brake = (tanh + 1) / 2.

    The paper clips gas and brake of tanh to [0, 1]; the affine map keeps them in bounds without
    a dead half of the range, where CMA-ES would see no signal.
    """
    t = torch.tanh(raw)
    return torch.cat([t[..., :1], (t[..., 1:] + 1.0) / 2.0], dim=-1)


class BatchedController:
    """P controllers as one tensor op: ``act(z [N, 32], h [N, 256]) -> a [N, 3]``.

    Row ``i`` of the inputs is driven by candidate ``i // repeats``: with R rollouts per
    candidate, the batch is laid out candidate-major.
    """

    def __init__(
        self,
        params: np.ndarray | torch.Tensor,
        repeats: int = 1,
        device=None,
        z_dim: int = Z_DIM,
        hidden: int = HIDDEN,
    ) -> None:
        params = torch.as_tensor(np.asarray(params, dtype=np.float32), device=device)
        if params.ndim == 1:
            params = params[None]
        expected = n_params(z_dim, hidden)
        if params.shape[1] != expected:
            raise ValueError(f"controller needs {expected} parameters, got {params.shape[1]}")
        split = ACTION_DIM * (z_dim + hidden)
        weights = params[:, :split].reshape(-1, ACTION_DIM, z_dim + hidden)
        bias = params[:, split:]
        self.weights = weights.repeat_interleave(repeats, 0)  # [N, 3, z+h]
        self.bias = bias.repeat_interleave(repeats, 0)  # [N, 3]

    @property
    def batch(self) -> int:
        return self.weights.shape[0]

    def act(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        features = torch.cat([z, h], dim=-1)
        raw = torch.einsum("nai,ni->na", self.weights, features) + self.bias
        return squash(raw)

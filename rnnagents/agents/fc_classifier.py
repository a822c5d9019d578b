"""The paper's fully-connected baseline: two hidden layers of 256 ReLUs on the whole image."""

from __future__ import annotations

import torch
from torch import nn


class FullyConnectedClassifier(nn.Sequential):
    """FC-256 of Mnih et al. 2014, table 2: what RAM must beat on cluttered MNIST."""

    def __init__(self, pixels: int, hidden: int = 256, n_classes: int = 10) -> None:
        super().__init__(
            nn.Flatten(),
            nn.Linear(pixels, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return super().forward(image)

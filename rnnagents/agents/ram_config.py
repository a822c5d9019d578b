"""The RAM network's sizes and options, apart from the network so that reading them needs no torch
(the command line builds its flags from the run config, which holds one of these)."""

from __future__ import annotations

from dataclasses import dataclass

CORES = ("rnn", "lstm", "gru", "peephole-lstm")


@dataclass(frozen=True)
class RAMModelConfig:
    """Sizes and options of the network (defaults: the paper's 128/128/256 and 256 core)."""

    glimpse_pixels: int = 3 * 12 * 12
    glimpse_hidden: int = 128
    location_hidden: int = 128
    glimpse_features: int = 256
    hidden_size: int = 256
    core: str = "rnn"
    location_std: float = 0.1
    n_classes: int = 10
    reinforce_trains_core: bool = False
    random_locations: bool = False

    def __post_init__(self) -> None:
        if self.core not in CORES:
            raise ValueError(f"core must be one of {CORES}, got {self.core!r}")
        if not self.location_std > 0:
            raise ValueError(f"location_std must be > 0, got {self.location_std}")
        for name in (
            "glimpse_pixels",
            "glimpse_hidden",
            "location_hidden",
            "glimpse_features",
            "hidden_size",
            "n_classes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

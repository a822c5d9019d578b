"""Seeds derived from a run's seed: every epoch, batch or generation draws its own."""

from __future__ import annotations

import numpy as np


def derive_seed(*keys: int) -> int:
    """An independent 63-bit seed for each tuple of keys (run seed, epoch, batch, ...).

    Keyed seeds make a resumed run replay exactly what an uninterrupted run would have drawn,
    without saving any generator's state.
    """
    state = np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))

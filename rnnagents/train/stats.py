"""Small statistics for honest reporting."""

from __future__ import annotations

import math


def wilson_interval(errors: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of an error rate: sound even at 0 or n errors."""
    if n <= 0:
        raise ValueError("need at least one episode for an interval")
    p = errors / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)

"""The glimpse sensor ("retina") of Mnih et al. 2014, batched over episodes.

A glimpse is ``n_scales`` square patches centred on one location: the first ``glimpse_size``
pixels wide, each next one ``scale`` times wider, every patch averaged down to
``glimpse_size x glimpse_size``. Pixels outside the canvas read as 0.

A canvas is fixed for a whole episode, so we build its summed-area table once at reset; every
glimpse pixel is then a box sum read with four lookups, whatever the scale. Canvases are uint8
and tables int32, so the box sums are exact. One flat gather serves all episodes and scales:
no Python loop over episodes.
"""

from __future__ import annotations

import numpy as np


def summed_area_tables(canvases: np.ndarray) -> np.ndarray:
    """Integral images ``S[n, i, j] = canvases[n, :i, :j].sum()`` of uint8 canvases, int32."""
    n, h, w = canvases.shape
    table = np.zeros((n, h + 1, w + 1), dtype=np.int32)
    inner = np.cumsum(canvases, axis=2, dtype=np.int32)  # dtype: else numpy sums in int64
    np.cumsum(inner, axis=1, dtype=np.int32, out=inner)
    table[:, 1:, 1:] = inner
    return table


def patch_origins(locations: np.ndarray, canvas_size: int, patch_sizes: np.ndarray) -> np.ndarray:
    """Top-left pixel (row, col) of patches of each size centred on ``locations`` [N, 2] (x, y).

    Location (-1, -1) is the canvas' top-left corner, (1, 1) its bottom-right, (0, 0) its centre.
    Returns int64 [N, len(patch_sizes), 2].
    """
    centre = (np.asarray(locations, dtype=np.float64)[:, ::-1] + 1.0) * (canvas_size / 2.0)
    sizes = np.asarray(patch_sizes, dtype=np.float64)
    return np.floor(centre[:, None, :] - sizes[None, :, None] / 2.0 + 0.5).astype(np.int64)


def extract_glimpses(
    tables: np.ndarray,
    locations: np.ndarray,
    glimpse_size: int,
    n_scales: int,
    scale: int = 2,
    episodes: np.ndarray | None = None,
) -> np.ndarray:
    """Glimpses [N, n_scales, g, g] (float32 in [0, 1]) at ``locations`` [N, 2].

    ``tables`` are summed-area tables of uint8 canvases; ``episodes`` picks which table each
    location belongs to (default: all, in order).
    """
    side = tables.shape[1]
    if episodes is None:
        episodes = np.arange(len(tables))
    blocks = scale ** np.arange(n_scales)
    origins = patch_origins(locations, side - 1, glimpse_size * blocks)  # [N, S, 2]
    steps = np.arange(glimpse_size + 1)
    edges = np.clip(origins[..., None] + blocks[None, :, None, None] * steps, 0, side - 1)
    edges = edges.astype(np.int32)  # every index below fits: half the memory traffic of int64
    rows = np.asarray(episodes, dtype=np.int32)[:, None, None] * (side * side)
    rows = rows + edges[:, :, 0] * side  # [N, S, g+1], small: the big array is made once
    flat = rows[..., :, None] + edges[:, :, 1, None, :]  # [N, S, g+1, g+1]
    corners = tables.reshape(-1).take(flat)
    across = corners[..., 1:] - corners[..., :-1]  # box sums = differences along both axes
    sums = across[..., 1:, :] - across[..., :-1, :]
    weights = (1.0 / (255.0 * blocks**2)).astype(np.float32)[:, None, None]
    return np.multiply(sums, weights, dtype=np.float32)

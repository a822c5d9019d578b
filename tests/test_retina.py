"""The batched summed-area-table retina against a slow, obviously-correct reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnagents.envs.retina import extract_glimpses, summed_area_tables


def reference_glimpse(canvas, location, glimpse_size, n_scales, scale):
    """Pad with zeros, cut each patch, average blocks with explicit loops."""
    w = canvas.shape[0]
    biggest = glimpse_size * scale ** (n_scales - 1)
    pad = biggest + 2
    padded = np.zeros((w + 2 * pad, w + 2 * pad))
    padded[pad : pad + w, pad : pad + w] = canvas / 255.0
    x, y = location
    out = np.zeros((n_scales, glimpse_size, glimpse_size))
    for k in range(n_scales):
        size = glimpse_size * scale**k
        block = scale**k
        row0 = int(np.floor((y + 1) * w / 2 - size / 2 + 0.5)) + pad
        col0 = int(np.floor((x + 1) * w / 2 - size / 2 + 0.5)) + pad
        for i in range(glimpse_size):
            for j in range(glimpse_size):
                r, c = row0 + i * block, col0 + j * block
                out[k, i, j] = padded[r : r + block, c : c + block].mean()
    return out


CORNERS = [(-1, -1), (-1, 1), (1, -1), (1, 1), (0, 0), (1, 0), (0, -1), (-0.999, 0.999)]


@pytest.mark.parametrize(
    "canvas_size,glimpse_size,n_scales,scale",
    [
        (28, 8, 1, 2),
        (60, 12, 3, 2),
        (100, 12, 4, 2),
        (31, 5, 2, 3),
    ],
)
def test_retina_matches_reference(canvas_size, glimpse_size, n_scales, scale):
    rng = np.random.default_rng(0)
    n = 24
    canvases = rng.integers(0, 256, size=(n, canvas_size, canvas_size), dtype=np.uint8)
    random_locs = rng.uniform(-1, 1, size=(n - len(CORNERS), 2))
    locations = np.concatenate([np.array(CORNERS, dtype=float), random_locs])
    got = extract_glimpses(summed_area_tables(canvases), locations, glimpse_size, n_scales, scale)
    assert got.shape == (n, n_scales, glimpse_size, glimpse_size) and got.dtype == np.float32
    for i in range(n):
        want = reference_glimpse(canvases[i], locations[i], glimpse_size, n_scales, scale)
        np.testing.assert_allclose(got[i], want, atol=1e-6)


def test_retina_selects_episodes_without_copying_order():
    rng = np.random.default_rng(1)
    canvases = rng.integers(0, 256, size=(5, 40, 40), dtype=np.uint8)
    tables = summed_area_tables(canvases)
    locations = rng.uniform(-1, 1, size=(2, 2))
    picked = extract_glimpses(tables, locations, 8, 2, 2, episodes=np.array([3, 1]))
    direct = extract_glimpses(tables[[3, 1]], locations, 8, 2, 2)
    np.testing.assert_array_equal(picked, direct)


def test_outside_reads_zero_and_centre_of_bright_canvas_reads_one():
    canvas = np.full((1, 60, 60), 255, dtype=np.uint8)
    tables = summed_area_tables(canvas)
    centre = extract_glimpses(tables, np.zeros((1, 2)), 12, 3)
    np.testing.assert_allclose(centre, 1.0)
    corner = extract_glimpses(tables, np.array([[1.0, 1.0]]), 12, 1)
    # Centred on the bottom-right corner: the top-left quarter is inside, the rest is 0.
    np.testing.assert_allclose(corner[0, 0, :6, :6], 1.0)
    assert corner[0, 0, 6:, :].max() == 0 and corner[0, 0, :, 6:].max() == 0


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    x=st.floats(-1, 1),
    y=st.floats(-1, 1),
    n_scales=st.integers(1, 3),
)
def test_retina_values_in_unit_interval(seed, x, y, n_scales):
    canvas = np.random.default_rng(seed).integers(0, 256, size=(1, 60, 60), dtype=np.uint8)
    g = extract_glimpses(summed_area_tables(canvas), np.array([[x, y]]), 12, n_scales)
    assert g.min() >= 0.0 and g.max() <= 1.0

"""Checks that turn a bad glimpse action into an error naming what is wrong."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from rnnagents.envs.glimpse_task import N_CLASSES


def parse_action(action, num_envs: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(locations [N, 2] float64, classes [N] int64) from a ``{"location", "class"}`` action.

    ``num_envs=None`` means a single env's unbatched action.
    """
    if not isinstance(action, Mapping) or set(action) != {"location", "class"}:
        got = sorted(action) if isinstance(action, Mapping) else type(action).__name__
        raise ValueError(f"action must be a dict with keys 'location' and 'class', got {got}")
    location = np.asarray(action["location"], dtype=np.float64)
    classes = np.asarray(action["class"])
    loc_shape = (2,) if num_envs is None else (num_envs, 2)
    cls_shape = () if num_envs is None else (num_envs,)
    if location.shape != loc_shape:
        raise ValueError(f"action['location'] has shape {location.shape}, expected {loc_shape}")
    if not np.all(np.isfinite(location)):
        raise ValueError(f"action['location'] contains NaN or inf: {location.tolist()}")
    if np.any(np.abs(location) > 1.0):
        raise ValueError(f"action['location'] is outside [-1, 1]: {location.tolist()}")
    if classes.shape != cls_shape:
        raise ValueError(f"action['class'] has shape {classes.shape}, expected {cls_shape}")
    if not np.issubdtype(classes.dtype, np.integer):
        raise ValueError(f"action['class'] must be an integer class, got dtype {classes.dtype}")
    if np.any((classes < 0) | (classes >= N_CLASSES)):
        raise ValueError(f"action['class'] must be in [0, {N_CLASSES}), got {classes.tolist()}")
    return location.reshape(-1, 2), classes.reshape(-1).astype(np.int64)

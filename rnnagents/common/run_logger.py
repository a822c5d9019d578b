"""One place every agent sends its metrics and media.

Metrics always go to ``run_dir/metrics.jsonl`` (one JSON object per line, flushed per line) so a
run is inspectable without any service and survives a crash up to its last line. Weights &
Biases is optional and imported only when asked for, so offline use and tests never touch it.
Its run id is kept in ``run_dir/wandb_id.txt``: reopening the same run directory (a resumed
training run) continues the same W&B run instead of starting a new one.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

METRICS_FILE = "metrics.jsonl"
WANDB_ID_FILE = "wandb_id.txt"
_RESERVED_KEYS = ("step", "time")


class RunLogger:
    """Append metrics to ``metrics.jsonl`` and, when enabled, mirror them (and media) to W&B.

    The W&B mode (online / offline / disabled) comes from ``WANDB_MODE`` as usual, so the same
    code runs on a laptop, in CI and on a cluster.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        config: dict,
        *,
        wandb: bool = False,
        project: str = "rnnagents",
        run_name: str | None = None,
        resume_id: str | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._wandb: Any = None
        self._run: Any = None
        if wandb:
            import wandb as wandb_module

            self._wandb = wandb_module
            id_path = self.run_dir / WANDB_ID_FILE
            self._run = wandb_module.init(
                project=project,
                config=config,
                dir=str(self.run_dir),
                name=run_name,
                id=resume_id or _stored_id(id_path),  # None: W&B picks a fresh id
                resume="allow",
            )
            id_path.write_text(self._run.id + "\n", encoding="utf-8")
        metrics_path = self.run_dir / METRICS_FILE
        _drop_partial_last_line(metrics_path)
        previous = read_metrics(self.run_dir) if metrics_path.exists() else []
        self.last_step = max((record["step"] for record in previous), default=-1)
        self._metrics_file = metrics_path.open("a", encoding="utf-8")

    @property
    def wandb_id(self) -> str | None:
        """The W&B run id, or None when W&B is not enabled."""
        return None if self._run is None else self._run.id

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Record scalar metrics at ``step``; non-finite values become ``null`` in the JSON."""
        clashing = [key for key in _RESERVED_KEYS if key in metrics]
        if clashing:
            raise ValueError(f"metric names {clashing} are reserved by the metrics file")
        values = {key: _plain_number(value) for key, value in metrics.items()}
        record = {
            "step": int(step),
            **{key: value if math.isfinite(value) else None for key, value in values.items()},
            "time": time.time(),
        }
        self._metrics_file.write(json.dumps(record, allow_nan=False) + "\n")
        self._metrics_file.flush()
        self.last_step = max(self.last_step, int(step))
        if self._run is not None:
            self._run.log(values, step=step)  # W&B charts NaN/inf itself

    def log_video(self, key: str, path: str | os.PathLike, step: int) -> None:
        """Upload a video file to W&B; locally the file already lives in the run directory."""
        if self._run is not None:
            self._run.log({key: self._wandb.Video(str(path))}, step=step)

    def log_image(self, key: str, image: np.ndarray | str | os.PathLike, step: int) -> None:
        """Upload an RGB array or an image file to W&B; locally a no-op, like ``log_video``."""
        if self._run is not None:
            source = image if isinstance(image, np.ndarray) else str(image)
            self._run.log({key: self._wandb.Image(source)}, step=step)

    def log_artifact(self, path: str | os.PathLike, name: str, type: str = "model") -> None:
        """Version a file (typically a checkpoint) as a W&B artifact; locally a no-op."""
        if self._run is not None:
            artifact = self._wandb.Artifact(name, type=type)
            artifact.add_file(str(path))
            self._run.log_artifact(artifact)

    def close(self) -> None:
        """Flush and close the metrics file and finish the W&B run. Safe to call twice."""
        self._metrics_file.close()
        if self._run is not None:
            self._run.finish()
            self._run = None

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class StageLogger:
    """One pipeline stage's view of a shared :class:`RunLogger`.

    W&B wants a single increasing step per run, but every stage counts its own steps (epochs,
    batches, generations). A stage's steps are shifted past every step logged before it began;
    stages put their own counter inside their metrics (e.g. ``vae/epoch``).
    """

    def __init__(self, logger: RunLogger) -> None:
        self.logger = logger
        self.base = logger.last_step + 1

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.logger.log(metrics, self.base + step)

    def log_video(self, key: str, path: str | os.PathLike, step: int) -> None:
        self.logger.log_video(key, path, self.base + step)

    def log_image(self, key: str, image: np.ndarray | str | os.PathLike, step: int) -> None:
        self.logger.log_image(key, image, self.base + step)

    def log_artifact(self, path: str | os.PathLike, name: str, type: str = "model") -> None:
        self.logger.log_artifact(path, name, type)


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """Read ``metrics.jsonl`` back, ignoring a final line cut short by a crash."""
    path = Path(run_dir) / METRICS_FILE
    # Every complete record ends in a newline, so the last piece is "" or an unfinished record.
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    records = []
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} line {number} is not a metrics record: {err}") from err
    return records


def _plain_number(value: Any) -> int | float:
    """Python int/float from numpy or 0-d torch scalars, so JSON and W&B see the same value."""
    if isinstance(value, numbers.Integral):
        return int(value)
    return float(value)


def _drop_partial_last_line(path: Path) -> None:
    """Cut an unfinished record left by a crash, so appending on resume keeps every line valid."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as file:
            file.truncate(data.rfind(b"\n") + 1)


def _stored_id(path: Path) -> str | None:
    if not path.exists():
        return None
    return path.read_text(encoding="utf-8").strip() or None

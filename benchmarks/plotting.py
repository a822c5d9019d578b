"""What the plot scripts share: a headless matplotlib, the ``RUN_DIR ... --out PNG`` command
line, and the save."""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: a file, never a window
import matplotlib.pyplot as plt  # noqa: E402


def parse_runs(description: str, title: str) -> argparse.Namespace:
    """``runs`` (run directories), ``out`` (the PNG) and ``title`` from the command line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--title", default=title)
    return parser.parse_args()


def new_axes(width: float) -> tuple[plt.Figure, plt.Axes]:
    return plt.subplots(figsize=(width, 4.5))


def save(figure: plt.Figure, out: Path) -> None:
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    print(f"wrote {out}")

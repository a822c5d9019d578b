"""Small statistics for honest reporting, and the one way every evaluation report is printed.

Every kind's evaluation writes ``eval.json`` in its run directory with one of two shapes:

* a classification report (glimpse tasks): ``split``, ``episodes``, ``error``, ``error_ci95``
  (M=1; ``error_mc`` and ``samples`` when M > 1 location samples were averaged);
* a real-game report (CarRacing): ``agent`` (what was scored), ``tracks``, ``max_steps`` and
  its :func:`summarize`
  (``mean``, ``std``, ``episodes``, ``returns``), plus ``baselines`` and ``dream`` summaries
  where the agent has them.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

EVAL_FILE = "eval.json"


def wilson_interval(errors: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of an error rate: sound even at 0 or n errors."""
    if n <= 0:
        raise ValueError("need at least one episode for an interval")
    p = errors / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def error_report(split: str, wrong: int, episodes: int) -> dict:
    """A classification report: error rate on ``episodes`` episodes of ``split`` and its CI."""
    low, high = wilson_interval(wrong, episodes)
    return {
        "split": split,
        "episodes": episodes,
        "error": wrong / episodes,
        "error_ci95": [low, high],
    }


def summarize(returns: list[float] | np.ndarray) -> dict:
    """Mean, std and every return of a set of episodes."""
    values = np.asarray(returns, dtype=np.float64)
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "episodes": len(values),
        "returns": [round(float(v), 2) for v in values],
    }


def read_report(run_dir: str | os.PathLike) -> dict:
    """The run's latest evaluation report (``eval.json``)."""
    path = Path(run_dir) / EVAL_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the run has not been evaluated")
    return json.loads(path.read_text())


def report_lines(report: dict) -> list[str]:
    """Human-readable lines of an evaluation report of either shape."""
    if "error" in report:
        low, high = report["error_ci95"]
        line = (
            f"{report['split']} error {100 * report['error']:.2f}% (95% CI {100 * low:.2f}-"
            f"{100 * high:.2f}%, {report['episodes']} episodes, M=1)"
        )
        if "error_mc" in report:
            line += f"; M={report['samples']} averaged: {100 * report['error_mc']:.2f}%"
        return [line]
    parts = {report.get("agent", "agent"): report, **report.get("baselines", {})}
    if "dream" in report:
        parts["dream"] = report["dream"]
    return [
        f"{name:26s} {part['mean']:8.1f} +- {part['std']:6.1f}  ({part['episodes']} episodes"
        f"{', in the dream' if name == 'dream' else ' on unseen tracks'})"
        for name, part in parts.items()
    ]

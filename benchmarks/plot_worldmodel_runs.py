"""The returns of World Models runs on the 100 unseen tracks, one box per run, against the
issue's bar of 500: a mean hides how a run spreads, and runs of one configuration part widely.

Each argument is a results file of ``benchmarks/results/`` (``run_results.py`` writes them),
optionally as ``LABEL=FILE``; the box shows the quartiles of its returns, the dots every track,
the diamond the mean.

    python benchmarks/plot_worldmodel_runs.py "seed 0=results/a.json" results/b.json --out runs.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from plotting import new_axes, save

BAR = 500.0  # issue 13's bar: the mean over the 100 unseen tracks
DROPOUTS_DREAM_LAND = 788.6  # their best 100-track mean (dropout M; their plain M: 503.7)


def labelled(argument: str) -> tuple[str, Path]:
    """``LABEL=FILE`` or ``FILE`` (labelled by its name without ``worldmodel_``)."""
    label, sep, path = argument.rpartition("=")
    if not sep:
        path = argument
        label = Path(argument).stem.removeprefix("worldmodel_")
    return label, Path(path)


def evaluation(path: Path) -> dict:
    """The 100-track evaluation of a results file (``eval``; older files call it ``eval_100``):
    its ``returns`` per track and the ``action_noise`` they were played with."""
    report = json.loads(path.read_text())
    scored = report.get("eval") or report.get("eval_100")
    if not scored or "returns" not in scored:
        raise SystemExit(f"{path}: no 100-track evaluation ('eval' with 'returns') in it")
    return scored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=labelled, help="[LABEL=]results JSON")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--title", default="World Models: returns on the 100 unseen tracks")
    args = parser.parse_args()
    labels = [label for label, _ in args.results]
    evaluations = [evaluation(path) for _, path in args.results]
    scores = [[float(value) for value in scored["returns"]] for scored in evaluations]
    noises = sorted({scored["action_noise"] for scored in evaluations})
    figure, axes = new_axes(max(6.0, 1.1 * len(scores) + 2))
    positions = np.arange(1, len(scores) + 1)
    axes.boxplot(scores, positions=positions, widths=0.5, showfliers=False)
    jitter = np.random.default_rng(0)  # fixed, so the figure is the same each time
    for position, values in zip(positions, scores, strict=True):
        spread = jitter.uniform(-0.15, 0.15, len(values))
        axes.scatter(position + spread, values, s=6, alpha=0.35, color="C0")
        axes.scatter([position], [np.mean(values)], marker="D", color="C3", zorder=3)
        axes.annotate(f"{np.mean(values):.0f}", (position + 0.3, np.mean(values)), color="C3")
    axes.axhline(BAR, color="black", linestyle="--", linewidth=1, label="the bar (mean 500)")
    axes.axhline(
        DROPOUTS_DREAM_LAND,
        color="C2",
        linestyle="-.",
        linewidth=1,
        label=f"Dropout's Dream Land, dropout M ({DROPOUTS_DREAM_LAND})",
    )
    axes.set_xlim(0.4, len(scores) + 0.9)  # room for the last mean's label
    axes.set_xticks(positions, labels, rotation=20, ha="right", fontsize="small")
    noise = ", ".join(f"{std:g}" for std in noises)
    axes.set(ylabel=f"return per track (C plus OU noise {noise})", title=args.title)
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend(fontsize="small", loc="lower left")
    save(figure, args.out)


if __name__ == "__main__":
    main()

"""Validation error against training images seen, for RAM runs: where a run stands and whether
it was still improving when its budget ran out.

    python benchmarks/plot_ram_curves.py RUN_DIR [RUN_DIR ...] --out curves.png
"""

from __future__ import annotations

import json
from pathlib import Path

from plotting import new_axes, parse_runs, save


def curve(run_dir: Path) -> tuple[list[float], list[float]]:
    """(millions of training images seen, validation error) after every epoch of a run."""
    config = json.loads((run_dir / "config.json").read_text())["config"]
    per_epoch = config["batches_per_epoch"] * config["batch_size"] / 1e6
    images, errors = [], []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "valid/error" in row:
            images.append(row["epoch"] * per_epoch)
            errors.append(row["valid/error"])
    return images, errors


def main() -> None:
    args = parse_runs(__doc__, "RAM on full MNIST (M=1)")
    figure, axes = new_axes(7)
    for run in args.runs:
        images, errors = curve(run)
        axes.plot(
            images, [100 * e for e in errors], label=f"{run.name} (best {100 * min(errors):.2f}%)"
        )
    axes.set(
        xlabel="training images seen (millions)",
        ylabel="validation error (%)",
        yscale="log",
        title=args.title,
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    save(figure, args.out)


if __name__ == "__main__":
    main()

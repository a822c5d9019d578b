"""Dream score against real score over CMA-ES generations, for World Models runs: where the
dream stops telling the truth (the gap is C exploiting M) and what each iterative round did.

Every real check scores the ES mean on training tracks (``real/mean``) beside the same
parameters' dream score (``dream/checked_mean``); the faint line is each generation's best
candidate in the dream. Dotted lines mark where a round retrained M.

    python benchmarks/plot_worldmodel_checks.py RUN_DIR [RUN_DIR ...] --out checks.png
"""

from __future__ import annotations

import json
from pathlib import Path

from plotting import new_axes, parse_runs, save


def checks(run_dir: Path) -> dict[str, list]:
    """Per generation: the best dream score; per real check: (generation, dream, real); and the
    generations at which a round's M was retrained."""
    series: dict[str, list] = {"best": [], "checks": [], "rounds": []}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        generation = len(series["best"])
        if row.get("mdnrnn/epoch") == 1 and generation > 0:
            series["rounds"].append(generation)
        if "dream/best" in row:
            series["best"].append(row["dream/best"])
        if "real/mean" in row:
            series["checks"].append((generation, row["dream/checked_mean"], row["real/mean"]))
    if not series["checks"]:
        raise SystemExit(f"{run_dir}: no real checks in metrics.jsonl (real_check_every > 0?)")
    return series


def main() -> None:
    args = parse_runs(__doc__, "World Models: the ES mean in the dream and for real")
    figure, axes = new_axes(8)
    for index, run in enumerate(args.runs):
        series = checks(run)
        colour = f"C{index}"
        axes.plot(series["best"], color=colour, alpha=0.2, linewidth=1)
        generations, dream, real = zip(*series["checks"], strict=True)
        axes.plot(generations, dream, "o--", color=colour, label=f"{run.name}: dream")
        axes.plot(generations, real, "s-", color=colour, label=f"{run.name}: real")
        for generation in series["rounds"]:
            axes.axvline(generation, color=colour, linestyle=":", alpha=0.5)
    axes.set(
        xlabel="CMA-ES generation (all rounds)",
        ylabel="return (training tracks / dreams)",
        title=args.title,
    )
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small")
    save(figure, args.out)


if __name__ == "__main__":
    main()

"""The results JSON the README cites for a finished training run (World Models or RAM), read off
its run directory: config, scores, real checks, selection, learning curve, machine and versions.

Long trainings are run by hand or by a shell benchmark (``worldmodel_default.sh``,
``ram_results.sh``); this turns what they left in the run directory into
``benchmarks/results/NAME.json``, and never overwrites one.

    python benchmarks/run_results.py RUN NAME --command "..." [--note "..."] [--train-minutes M]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from common import RESULTS, machine
from worldmodel_frames import real_frames

from rnnagents.common.files import atomic_write_bytes
from rnnagents.common.run_logger import read_metrics

PACKAGES = ("torch", "numpy", "gymnasium", "box2d", "opencv-python", "cma")


def cpu_model() -> str:
    """The CPU's name (``/proc/cpuinfo``): runs of one configuration differ across CPUs."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown"
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else "unknown"


def _spread(returns: list[float]) -> dict:
    values = np.asarray(returns, dtype=float)
    return {
        "median": float(np.median(values)),
        "above_200": int((values > 200).sum()),
        "above_500": int((values > 500).sum()),
        "above_800": int((values > 800).sum()),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def worldmodel_results(run: Path) -> dict:
    """Every real check (dream beside real), the select stage's scores and the evaluation."""
    checks = [
        [round(row["dream/checked_mean"], 1), round(row["real/mean"], 1)]
        for row in read_metrics(run)
        if "real/mean" in row and "dream/checked_mean" in row
    ]
    select = run / "stages" / "select.json"
    report = json.loads((run / "eval.json").read_text())
    return {
        "real_frames": real_frames(run),
        "checks_dream_vs_real": checks,
        "select": json.loads(select.read_text()) if select.exists() else None,
        "eval": {key: value for key, value in report.items() if key != "dream"},
        "dream": report.get("dream"),
        "summary": _spread(report["returns"]),
    }


def ram_results(run: Path) -> dict:
    """The test error and the validation curve, epoch by epoch."""
    curve = [
        {
            "epoch": row["epoch"],
            "valid_error": row["valid/error"],
            "train_accuracy": round(row["train/accuracy"], 4),
            "images_per_s": round(row["train/images_per_s"]),
        }
        for row in read_metrics(run)
        if "valid/error" in row
    ]
    return {"test": json.loads((run / "eval.json").read_text()), "curve": curve}


def results(run: Path) -> dict:
    if not (run / "eval.json").exists():
        raise ValueError(f"{run} has no eval.json: the run is not finished and scored yet")
    saved = json.loads((run / "config.json").read_text())
    readers = {"worldmodel": worldmodel_results, "ram": ram_results}
    agent = saved.get("agent")
    if agent not in readers:
        raise ValueError(f"{run}: agent {agent!r} is not one of {sorted(readers)}")
    return {"agent": agent, "config": saved["config"], **readers[agent](run)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished, scored run directory")
    parser.add_argument("name", help="the results file's name, without .json")
    parser.add_argument("--command", required=True, help="the command that made the run")
    parser.add_argument("--note", default="", help="what else a reader needs to know")
    parser.add_argument("--train-minutes", type=float, help="wall-clock minutes of training")
    args = parser.parse_args(argv)
    out = RESULTS / f"{args.name}.json"
    if out.exists():
        print(f"error: {out} exists; results are never overwritten", file=sys.stderr)
        return 2
    try:
        body = results(args.run)
    except (OSError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    payload = {
        "benchmark": args.name,
        "command": args.command,
        "note": args.note,
        "date": time.strftime("%Y-%m-%d"),
        "machine": {**machine(), "cpu_model": cpu_model()},
        "versions": {package: version(package) for package in PACKAGES},
        "train_minutes": args.train_minutes,
        **body,
    }
    atomic_write_bytes(out, (json.dumps(payload, indent=1) + "\n").encode())
    summary = body.get("summary") or body.get("test")
    print(f"RESULT wrote={out.name} {json.dumps(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

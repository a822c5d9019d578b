"""The real frames a World Models run used: every collected episode (the first collection and
each iterative round) plus an upper bound on its real checks (real_check_episodes x
collect_max_steps per check) and on its select stage's scoring, the budget issue 13 counts.

    python benchmarks/worldmodel_frames.py RUN_DIR      (prints one integer)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def real_frames(run: Path) -> int:
    config = json.loads((run / "config.json").read_text())["config"]
    summaries = run.glob("rollouts/collect_summary*")
    collected = sum(json.loads(path.read_text())["total_steps"] for path in summaries)
    metrics = (run / "metrics.jsonl").read_text().splitlines()
    checks = sum(1 for line in metrics if '"real/mean"' in line)
    select = run / "stages" / "select.json"
    selected = json.loads(select.read_text())["frames"] if select.exists() else 0
    return (
        collected + checks * config["real_check_episodes"] * config["collect_max_steps"] + selected
    )


if __name__ == "__main__":
    print(real_frames(Path(sys.argv[1])))

#!/usr/bin/env bash
# The World Models `default` preset end to end from scratch: train (collect, V, M, C in the
# dream with real checks on training tracks), then score the controller on unseen tracks.
# Usage: bash benchmarks/worldmodel_default.sh [RUN_DIR]   (SEED, EPISODES, WORKERS; TRAIN_FLAGS:
# extra `train worldmodel` flags for a lever on top of the preset, e.g. "--dream-action-noise 0.2")
# Last line: RESULT real_mean=... real_std=... frames=... minutes=...  (frames: collection plus
# upper bounds on the real checks, real_check_episodes x collect_max_steps per check, and on the
# select stage's scoring: benchmarks/worldmodel_frames.py).
set -euo pipefail
run=${1:-runs/worldmodel-default-seed${SEED:-0}}
start=$(date +%s)
rnnagents --threads 1 train worldmodel --preset default --seed "${SEED:-0}" \
  --workers "${WORKERS:-2}" --eval-episodes 2 --no-progress --run-dir "$run" ${TRAIN_FLAGS:-}
minutes=$(( ($(date +%s) - start) / 60 ))
rnnagents --threads 1 eval worldmodel "$run" --episodes "${EPISODES:-100}" \
  --workers "${WORKERS:-2}" --no-baselines --no-progress
frames=$(python "$(dirname "$0")/worldmodel_frames.py" "$run")
python - "$run" "$minutes" "$frames" <<'PY'
import json, sys
from pathlib import Path

run, minutes, frames = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
report = json.loads((run / "eval.json").read_text())
print(f"RESULT real_mean={report['mean']:.1f} real_std={report['std']:.1f} "
      f"frames={frames} minutes={minutes}")
PY

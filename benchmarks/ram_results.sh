#!/usr/bin/env bash
# Reproduces the README's RAM results table (2 CPU cores: a few hours in total).
# Usage: bash benchmarks/ram_results.sh [RUNS_DIR]   (each line can also be run on its own)
set -euo pipefail
runs=${1:-runs/results}
fashion=/usr/share/datasets/fashion-mnist   # Debian package dataset-fashion-mnist
export OMP_NUM_THREADS=1
train() { rnnagents train ram --preset default --epochs 30 --seed 0 --no-progress "$@"; }

train --env rnnagents/MNIST28-v0 --run-dir "$runs/mnist28"
train --env rnnagents/ClutteredMNIST60-v0 --run-dir "$runs/c60"
train --env rnnagents/ClutteredMNIST60-v0 --random-locations --run-dir "$runs/c60-random"
python benchmarks/fc_baseline.py --env rnnagents/ClutteredMNIST60-v0 --images 1536000
train --env rnnagents/ClutteredMNIST60-v0 --data-dir "$fashion" --run-dir "$runs/c60-fashion"
python benchmarks/ram_throughput.py
python benchmarks/env_throughput.py

#!/usr/bin/env bash
# Reproduces the README's RAM results tables (2 CPU cores; each run takes one core).
# Usage: bash benchmarks/ram_results.sh [RUNS_DIR] [MNIST_DIR]
#   MNIST_DIR (the four MNIST IDX files, e.g. ../shared/mnist): the paper's table on full MNIST,
#   one preset per task, about an hour each. Without it: the rows on the 5,000-digit sample.
# Each line can also be run on its own.
set -euo pipefail
runs=${1:-runs/results}
mnist=${2:-}
export OMP_NUM_THREADS=1
train() { rnnagents --threads 1 train ram --seed 0 --no-progress "$@"; }

if [[ -n "$mnist" ]]; then
  for task in mnist28 translated60 cluttered60 cluttered100; do
    train --preset "$task" --data-dir "$mnist" --run-dir "$runs/full-$task"
  done
  train --preset cluttered60 --random-locations --data-dir "$mnist" --run-dir "$runs/full-c60-random"
  # a gated core at the full budget (not the paper's ReLU RNN)
  train --preset cluttered60 --core gru --data-dir "$mnist" --run-dir "$runs/full-c60-gru"
  train --preset translated60 --core gru --data-dir "$mnist" --run-dir "$runs/full-t60-gru"
  train --preset cluttered100 --core gru --data-dir "$mnist" --run-dir "$runs/full-c100-gru"
  train --preset cluttered100 --core gru --lr-decay 0.985 --data-dir "$mnist" \
    --run-dir "$runs/full-c100-gru-decay985"
  train --preset cluttered60 --core lstm --data-dir "$mnist" --run-dir "$runs/full-c60-lstm"
  train --preset cluttered100 --core lstm --data-dir "$mnist" --run-dir "$runs/full-c100-lstm"
  # the peephole LSTM at half and a quarter of those budgets, against the GRU runs' curves
  train --preset cluttered60 --core peephole-lstm --epochs 80 --data-dir "$mnist" \
    --run-dir "$runs/full-c60-peephole-80"
  train --preset cluttered100 --core peephole-lstm --epochs 30 --data-dir "$mnist" \
    --run-dir "$runs/full-c100-peephole-30"
  for core in rnn lstm gru peephole-lstm; do  # the cores side by side, on a short budget
    train --preset cluttered60 --core "$core" --epochs 10 --data-dir "$mnist" \
      --run-dir "$runs/full-c60-core-$core"
  done
  train --preset cluttered60 --random-locations --epochs 10 --data-dir "$mnist" \
    --run-dir "$runs/full-c60-random-10"
  for batch_k in 128-4 512-4 512-1; do  # location samples per canvas, against fresh canvases
    train --preset cluttered60 --epochs 10 --batch-size "${batch_k%-*}" \
      --location-samples "${batch_k#*-}" --data-dir "$mnist" --run-dir "$runs/full-c60-b$batch_k"
  done
  train --preset cluttered60 --epochs 40 --data-dir "$mnist" --run-dir "$runs/full-c60-rnn-40"
  for core_std in rnn-0.2 rnn-0.3 gru-0.05 gru-0.15 gru-0.2 gru-0.3; do  # location std, short budget
    train --preset cluttered60 --epochs 10 --core "${core_std%-*}" --location-std "${core_std#*-}" \
      --data-dir "$mnist" --run-dir "$runs/full-c60-std-$core_std"
  done
  for core in rnn gru; do  # the best std of that screen at the full budget
    train --preset cluttered60 --core "$core" --location-std 0.2 --data-dir "$mnist" \
      --run-dir "$runs/full-c60-$core-std0.2"
  done
  python benchmarks/fc_baseline.py --env rnnagents/ClutteredMNIST60-v0 --data-dir "$mnist" \
    --images 8192000 --name fc_baseline_full
  exit 0
fi

fashion=/usr/share/datasets/fashion-mnist   # Debian package dataset-fashion-mnist
sample() { train --preset default --epochs 30 "$@"; }
sample --env rnnagents/MNIST28-v0 --run-dir "$runs/mnist28"
sample --env rnnagents/ClutteredMNIST60-v0 --run-dir "$runs/c60"
sample --env rnnagents/ClutteredMNIST60-v0 --random-locations --run-dir "$runs/c60-random"
python benchmarks/fc_baseline.py --env rnnagents/ClutteredMNIST60-v0 --images 1536000
sample --env rnnagents/ClutteredMNIST60-v0 --data-dir "$fashion" --run-dir "$runs/c60-fashion"
python benchmarks/ram_throughput.py
python benchmarks/env_throughput.py

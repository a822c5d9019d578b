#!/usr/bin/env bash
# RAM vs PPO vs RecurrentPPO on the 60x60 cluttered MNIST sample, each trained for the same
# number of environment steps (one glimpse = one step; 8 glimpses per image), then scored on the
# same 1000 test episodes with one sample (M=1). Reproduces the README's SB3 glimpse table.
# Usage: bash benchmarks/glimpse_agents.sh [RUNS_DIR]     (STEPS=... to change the budget)
set -euo pipefail
runs=${1:-runs/glimpse-agents}
steps=${STEPS:-256000}
env=rnnagents/ClutteredMNIST60-v0
epochs=5
batches=$((steps / 8 / 128 / epochs))  # RAM: batches of 128 images of 8 glimpses each
export OMP_NUM_THREADS=1
time rnnagents --threads 1 train ram --preset default --env "$env" --epochs "$epochs" \
  --batches-per-epoch "$batches" --seed 0 --no-progress --run-dir "$runs/ram"
time rnnagents --threads 1 train ppo --env "$env" --dict-obs --timesteps "$steps" --seed 0 \
  --no-progress --run-dir "$runs/ppo"
time rnnagents --threads 1 train ppo --env "$env" --dict-obs --recurrent --timesteps "$steps" \
  --seed 0 --no-progress --run-dir "$runs/recurrent-ppo"

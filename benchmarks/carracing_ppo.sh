#!/usr/bin/env bash
# PPO on CarRacing-v3 beside the World Models agent (README's SB3 CarRacing table):
#  1. PPO in the real game with as many real frames as the world-model run used (collection,
#     every iterative round and its real checks: benchmarks/worldmodel_frames.py)
#     (frame skip 2: one PPO step = 2 frames), scored on the 100 unseen evaluation tracks;
#  2. PPO trained inside the same world-model run's dream, scored in the real game the same way.
# Usage: bash benchmarks/carracing_ppo.sh WORLDMODEL_RUN_DIR [RUNS_DIR]   (EPISODES, DREAM_STEPS)
set -euo pipefail
wm=$1
runs=${2:-runs/carracing-ppo}
episodes=${EPISODES:-100}
dream_steps=${DREAM_STEPS:-300000}
frames=$(python "$(dirname "$0")/worldmodel_frames.py" "$wm")
export OMP_NUM_THREADS=1
time rnnagents --threads 1 train ppo --env CarRacing-v3 --timesteps $((frames / 2)) --n-envs 8 \
  --n-steps 256 --batch-size 128 --seed 0 --no-progress --run-dir "$runs/real"
time rnnagents eval ppo "$runs/real" --episodes "$episodes" --workers 2
time rnnagents --threads 1 train ppo --env "dream:$wm" --timesteps "$dream_steps" --n-envs 8 \
  --n-steps 256 --batch-size 128 --seed 0 --no-progress --run-dir "$runs/dream"
time rnnagents eval ppo "$runs/dream" --episodes "$episodes" --workers 2

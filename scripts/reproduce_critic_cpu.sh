#!/usr/bin/env bash
# Reproduces the CPU critic result table (docs/RESULTS.md, training section) in one command:
#   bash scripts/reproduce_critic_cpu.sh [OUT_DIR]
# critic-rl data from the simulator (training seed) -> held-out data (its own seed, checked
# disjoint) -> tiny Qwen2-VL critic built from config (1D positions, 128 px) -> SFT -> eval ->
# closed-loop task success (no critic, perception critic, SFT critic) -> GRPO from the SFT
# checkpoint (simulator rewards, collapse guard) -> eval -> task success -> one table
# (stage, wall time, accuracy, AUC, downstream success, gap closed), printed and written to
# OUT_DIR/results.md. Budget: <= 60 min on 2 CPU cores (55.5 min measured under heavy load).
# Every stage is resumable: re-running skips the stages whose <OUT_DIR>/<stage>.json exists.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/critic_cpu}"
PY="${PYTHON:-.venv/bin/python}"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
export PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-egl}"
export TOKENIZERS_PARALLELISM=false
# One thread per process: with 2 cores shared by the trainer and reward workers, more threads thrash (5x slower measured).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
mkdir -p "$OUT"
# Stage sizes and seeds: override through the environment to fit another machine.
"$PY" -m interleave_robot.training.reproduce --out "$OUT" \
  --episodes "${EPISODES:-1000}" --attempts-per-step "${ATTEMPTS:-2}" --workers "${WORKERS:-1}" \
  --seed "${SEED:-1}" --eval-seed "${EVAL_SEED:-7}" --eval-episodes "${EVAL_EPISODES:-60}" \
  --eval-rows "${EVAL_ROWS:-200}" --reward-rows "${REWARD_ROWS:-32}" \
  --downstream-seed "${DOWNSTREAM_SEED:-20000}" --downstream-episodes "${DOWNSTREAM_EPISODES:-20}" \
  ${SFT_STEPS:+--sft-steps "$SFT_STEPS"} ${GRPO_STEPS:+--grpo-steps "$GRPO_STEPS"} \
  2>&1 | tee -a "$OUT/log.txt"
cat "$OUT/results.md"

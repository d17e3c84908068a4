#!/usr/bin/env bash
# Reproduces the CPU critic result table (docs/RESULTS.md, training section) in one command:
#   bash scripts/reproduce_critic_cpu.sh [OUT_DIR]
# critic-rl data from the simulator -> probes -> tiny Qwen2-VL critic built from config ->
# eval at init -> SFT -> eval -> GRPO (simulator rewards) -> eval -> task success with no critic,
# the perception critic and the trained critic in the loop. Budget: <= 60 min on 2 CPU cores.
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
# Stage sizes: override through the environment to fit another machine.
"$PY" -m interleave_robot.training.reproduce --out "$OUT" \
  --episodes "${EPISODES:-240}" --attempts-per-step "${ATTEMPTS:-2}" --workers "${WORKERS:-2}" \
  --eval-rows "${EVAL_ROWS:-200}" --reward-rows "${REWARD_ROWS:-64}" \
  --downstream-episodes "${DOWNSTREAM_EPISODES:-20}" \
  ${SFT_STEPS:+--sft-steps "$SFT_STEPS"} ${GRPO_STEPS:+--grpo-steps "$GRPO_STEPS"} \
  2>&1 | tee -a "$OUT/log.txt"
cat "$OUT/results.md"

#!/usr/bin/env bash
# Set up a fresh machine: system libraries for headless MuJoCo rendering, a venv, and every
# Python dependency (torch's CPU wheel first; never torchvision from PyPI). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

need_apt=()
for pkg in libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri libosmesa6; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing system packages: ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "[setup] warning: missing system packages (${need_apt[*]}); install them for headless rendering" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed"
if [ -f "$stamp" ] && [ "$stamp" -nt setup.py ]; then
  exit 0
fi
"$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
echo "[setup] installing torch 2.13.0 (CPU)"
"$VENV/bin/python" -m pip install -q "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
echo "[setup] installing interleave-robot[${EXTRAS:-all,ray,test}] (editable)"
# (setuptools always prints one notice for editable installs of a package_dir layout; it is not a problem here)
"$VENV/bin/python" -m pip install -q -e ".[${EXTRAS:-all,ray,test}]" 2>&1 \
  | grep -v -e "is ignored" -e "^ *$" -e "!!" -e "wheel_obj" -e "Editable installation" -e "\*\*\*\*" -e "same$" -e "during imports" || true
"$VENV/bin/python" -c "import torch, transformers, trl, diffusers, mujoco, rclpy, cyclonedds, interleave_robot" \
  || { echo "[setup] error: dependencies failed to import" >&2; exit 1; }
touch "$stamp"
echo "[setup] done"

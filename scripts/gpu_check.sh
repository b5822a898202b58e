#!/usr/bin/env bash
# GPU check: the device tests, then the GPU benchmark, under one hard time limit (default 420 s).
# Usage: scripts/gpu_check.sh [python]     e.g. scripts/gpu_check.sh .venv/bin/python
# Without a CUDA device both steps report the reason and the script exits 0 (tests show as skipped).
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${1:-${PYTHON:-python3}}"
LIMIT="${GPU_CHECK_TIMEOUT:-420}"
export PYTHONUNBUFFERED=1
timeout --kill-after=10 "$LIMIT" bash -c '
  set -o pipefail
  "$0" -m pytest -q -rs -m gpu tests/gpu -p no:cacheprovider || exit $?
  "$0" benchmarks/gpu_bench.py
' "$PY"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "gpu_check: timed out after ${LIMIT}s" >&2
fi
exit $rc

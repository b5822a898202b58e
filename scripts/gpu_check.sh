#!/usr/bin/env bash
# GPU check, under 8 minutes, no network: the device tests (pytest -m gpu tests/gpu: the whole GPU catalogue, its
# gradients and the MLP/LeNet training steps against the CPU backend), then benchmarks/gpu_bench.py, whose table is
# the last thing printed (fused elementwise vs copy bandwidth, softmax+CE, 4096^3 matmul vs torch.matmul, MLP and
# LeNet-5 training steps vs PyTorch).
# Usage: scripts/gpu_check.sh [python]      e.g. scripts/gpu_check.sh python3   (needs numpy, sympy, llvmlite,
#        networkx, cuda-bindings, pytest, pytest-xdist, hypothesis; PyTorch for the reference columns)
# Without a CUDA device both steps say why and the script exits 0 (the tests show as skipped).
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${1:-${PYTHON:-python3}}"
LIMIT="${GPU_CHECK_TIMEOUT:-450}"
WORKERS="${GPU_CHECK_WORKERS:-4}"
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c 'import sys, llvmlite, numpy, sympy; print("python", sys.version.split()[0], "llvmlite", llvmlite.__version__,
          "numpy", numpy.__version__, "sympy", sympy.__version__)'
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
timeout --kill-after=10 "$LIMIT" bash -c '
  "$0" -m pytest -q -rs --tb=short -m gpu tests/gpu -p no:cacheprovider -n "$1"
  rc=$?
  "$0" benchmarks/gpu_bench.py
  b=$?
  [ $rc -ne 0 ] && exit $rc
  exit $b
' "$PY" "$WORKERS"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "gpu_check: timed out after ${LIMIT}s" >&2
fi
exit $rc

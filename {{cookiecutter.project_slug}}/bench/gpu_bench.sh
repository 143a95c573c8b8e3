#!/usr/bin/env bash
# GPU benchmarks in one go (each step is capped; the caps add up to 440 s):
#   1. ResNet-18 (small-image stem) on synthetic CIFAR-shaped data, bf16-mixed, channels_last:
#      raw PyTorch loop vs bare Lightning vs {{ cookiecutter.package_name }} (GPU-resident data) vs {{ cookiecutter.package_name }} (host data, pinned)
#      vs the floor (forward+backward+step on one device-resident batch, no data loading).
#   2. The digits CNN on the GPU: per-step framework overhead when the network is tiny.
#   3. `python train.py` end to end on the GPU (imports included).
#   4. --model.compile true against eager on ResNet-18: compile time and steady step time (bench/compile.py).
# Usage:  bash bench/gpu_bench.sh [OUT_DIR]        (PYTHON=/path/to/python to choose the interpreter)
# Tables go to stdout and OUT_DIR/*.txt, every repetition to OUT_DIR/*.json (default bench/results/gpu).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
OUT_DIR="${1:-${OUT:-bench/results/gpu}}"
mkdir -p "$OUT_DIR"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "error: no CUDA GPU visible to $PYTHON; run this on a GPU machine." >&2
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT_DIR/gpu.txt"

failed=()
step() {  # step NAME SECONDS COMMAND...: run with a time cap, keep its table, go on if it fails
  local name="$1" cap="$2"
  shift 2
  echo "== $name (cap ${cap}s)"
  if timeout "$cap" "$@" >"$OUT_DIR/$name.txt" 2>"$OUT_DIR/$name.log"; then
    grep -v "━" "$OUT_DIR/$name.txt" || true
  else
    echo "error: step '$name' failed or ran past ${cap}s; see $OUT_DIR/$name.log" >&2
    failed+=("$name")
  fi
}

step overhead_resnet18 140 "$PYTHON" bench/overhead.py --workload resnet18-gpu --reps 5 \
  --json "$OUT_DIR/overhead_resnet18.json"
step overhead_digits 60 "$PYTHON" bench/overhead.py --workload digits-cpu --device cuda --reps 5 \
  --json "$OUT_DIR/overhead_digits_gpu.json"
step e2e 90 "$PYTHON" bench/e2e.py --reps 3 --json "$OUT_DIR/e2e_gpu.json"
step compile 150 "$PYTHON" bench/compile.py --backbone resnet18 --device cuda --batch_size 256 --reps 2 \
  --json "$OUT_DIR/compile_gpu.json"
if ((${{ '{' }}#failed[@]})); then
  echo "failed steps: ${failed[*]}" >&2
  exit 1
fi
echo "done: $OUT_DIR"

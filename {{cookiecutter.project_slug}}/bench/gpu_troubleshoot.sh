#!/usr/bin/env bash
# GPU check of the troubleshooting kit (needs one CUDA GPU; ~2-4 minutes on an H100):
#   1. `{{ cookiecutter.package_name }} doctor` sees the GPU and exits 0;
#   2. a REAL CUDA out-of-memory (MemoryHungryCNN, batch 2048 ≈ 160 GB of activations) is recovered from:
#      the run finishes with a smaller batch and the same effective batch (batch x accumulation);
#   3. the memory monitor's peak for the last epoch equals torch.cuda.max_memory_allocated() (within 2 %).
# Usage: bash bench/gpu_troubleshoot.sh   (PYTHON=/path/to/python to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python}"
WORK="$(mktemp -d)"

echo "== {{ cookiecutter.package_name }} doctor"
"$PY" -m {{ cookiecutter.package_name }} doctor

echo "== real OOM on the GPU, recovered"
"$PY" - "$WORK" <<'PYEOF'
import sys

import torch

from {{ cookiecutter.package_name }}.cli.runner import run

assert torch.cuda.is_available(), "this check needs a CUDA GPU"
results = run([
    "fit", "--runs_dir", f"{sys.argv[1]}/runs", "--trainer.enable_progress_bar", "false",
    "--model.backbone", "{{ cookiecutter.package_name }}.troubleshoot.demo.MemoryHungryCNN", "--data.batch_size", "2048",
    "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
    "--trainer.num_sanity_val_steps", "0", "--memory_monitor.every_n_steps", "1",
])
recovery = results["oom_recovery"]
first = recovery["retries"][0]["error"]
print("retries:", recovery["summary"])
print("first error:", first)
assert "CUDA out of memory" in first and "simulated" not in first, "expected a real CUDA OOM"
batch, accumulation = recovery["final_batch_size"], recovery["final_accumulate_grad_batches"]
assert batch * accumulation == 2048, (batch, accumulation)

monitor_peak = results["memory"]["peak_mb_per_epoch"][-1]
torch_peak = torch.cuda.max_memory_allocated() / 2**20
print(f"memory monitor peak {monitor_peak:.0f} MB; torch.cuda.max_memory_allocated {torch_peak:.0f} MB; "
      f"ratio {monitor_peak / torch_peak:.3f}")
assert abs(monitor_peak / torch_peak - 1) < 0.02, "monitor and torch disagree on the peak"
print("GPU troubleshooting check: OK")
PYEOF
rm -rf "$WORK"

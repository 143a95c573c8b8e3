#!/usr/bin/env bash
# Every strategy preset on one GPU, then the equivalence proofs on CUDA: one PASS/FAIL line per check.
#
#   bash bench/gpu_check.sh            # about 2-4 minutes on one GPU; exit code 1 if any check failed
#
# Runs digits for 2 epochs per preset (enough to see training work: test/acc >= 0.9), in a temporary
# runs folder. The data-parallel proofs need 2 GPUs and are skipped (and say so) on a 1-GPU machine;
# the model-split proofs run with both stages on cuda:0.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
PYTHON=${PYTHON:-python}
RUNS=$(mktemp -d)
trap 'rm -rf "$RUNS"' EXIT
COMMON=(--runs_dir "$RUNS" --trainer.accelerator gpu --trainer.max_epochs 2
        --trainer.enable_progress_bar false --trainer.enable_model_summary false)
failed=0

# check NAME COMMAND...: PASS if the command exits 0 and, for a training run, its results.json shows test accuracy
# >= 0.9 (test/acc, or test_acc for the user-style modules of tests/byo).
check() {
    local name=$1 start=$SECONDS output status
    shift
    output=$("$@" 2>&1)
    status=$?
    if [ $status -eq 0 ] && [[ "$*" == *train.py* ]]; then
        results=$(printf '%s\n' "$output" | sed -n 's/^results: //p' | tail -1)
        "$PYTHON" -c 'import json,sys; m=json.load(open(sys.argv[1]))["metrics"]; sys.exit(m.get("test/acc", m.get("test_acc", 0)) < 0.9)' \
            "$results" 2>/dev/null || status=1
    fi
    if [ $status -eq 0 ]; then
        echo "PASS  $name ($((SECONDS - start)) s)"
    else
        echo "FAIL  $name ($((SECONDS - start)) s)"
        printf '%s\n' "$output" | tail -15 | sed 's/^/      /'
        failed=1
    fi
}

"$PYTHON" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"' || { echo "FAIL  no CUDA device"; exit 1; }
check "ddp, devices=1 (nccl)" "$PYTHON" train.py --strategy ddp --trainer.devices 1 "${COMMON[@]}"
check "ddp_spawn, devices=1" "$PYTHON" train.py --strategy ddp_spawn --trainer.devices 1 "${COMMON[@]}"
check "fsdp, devices=1, bf16 params" "$PYTHON" train.py --strategy fsdp --trainer.devices 1 \
    --trainer.strategy.param_dtype bfloat16 "${COMMON[@]}"
check "fsdp, devices=1, activation checkpointing, wrap by size" "$PYTHON" train.py --strategy fsdp \
    --trainer.devices 1 --trainer.strategy.activation_checkpointing true --trainer.strategy.wrap_policy 1000 \
    "${COMMON[@]}"
check "model_split, [cuda:0, cuda:0], micro_batches=4, bf16-mixed" "$PYTHON" train.py --strategy model_split \
    --trainer.strategy.devices '[cuda:0, cuda:0]' --trainer.strategy.micro_batches 4 --trainer.precision bf16-mixed \
    "${COMMON[@]}"
BYO=(--model tests.byo.models.VectorClassifier --data tests.byo.data.DigitsVectors --trainer.max_epochs 8)
check "your own module (tests/byo), fsdp, devices=1" "$PYTHON" train.py --strategy fsdp --trainer.devices 1 "${COMMON[@]}" "${BYO[@]}"
check "your own module (tests/byo), model_split, [cuda:0, cuda:0]" "$PYTHON" train.py --strategy model_split \
    --trainer.strategy.devices '[cuda:0, cuda:0]' "${COMMON[@]}" "${BYO[@]}"
check "equivalence proofs on CUDA (split == unsplit; DDP/FSDP == one process, 2 GPUs)" \
    env {{ cookiecutter.package_name | upper }}_TEST_ACCELERATOR=gpu "$PYTHON" -m pytest -q -rs -p no:cacheprovider tests/test_strategies.py \
    -k "split_outputs or split_batchnorm or equals" -m "slow or not slow"
exit $failed

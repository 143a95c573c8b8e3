#!/usr/bin/env bash
# Everything that behaves differently on CUDA, in one run: one PASS / FAIL / SKIP line per check.
#
#   bash bench/gpu_check.sh            # target: under 10 minutes on one GPU; exit code 1 if any check failed
#
# Part 1: every strategy preset on GPU (digits for 2 epochs: test/acc >= 0.9 shows training works).
# Part 2: issue 14 on CUDA: NCCL DDP, FSDP sharded checkpoints, 16-mixed/bf16-mixed, channels_last, a real CUDA
# out-of-memory recovered, model split on two devices, SIGTERM under NCCL DDP, resuming a GPU checkpoint on the
# CPU, loaders that follow the Trainer. Checks that need two GPUs print SKIP on a one-GPU machine.
# Part 3: the equivalence proofs of tests/test_strategies.py on CUDA.
# The Python-side checks live in bench/gpu_probes.py. Last output and date: docs/strategies.md ("GPU check").
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON=${PYTHON:-python}
RUNS=$(mktemp -d)
trap 'rm -rf "$RUNS"' EXIT
COMMON=(--runs_dir "$RUNS" --trainer.accelerator gpu --trainer.max_epochs 2
        --trainer.enable_progress_bar false --trainer.enable_model_summary false)
failed=0

# report NAME START STATUS OUTPUT: one PASS/FAIL line, and the output's tail on failure.
report() {
    if [ "$3" -eq 0 ]; then
        echo "PASS  $1 ($((SECONDS - $2)) s)"
    else
        echo "FAIL  $1 ($((SECONDS - $2)) s)"
        printf '%s\n' "$4" | tail -15 | sed 's/^/      /'
        failed=1
    fi
}

# check NAME COMMAND...: PASS if the command exits 0 and, for a train.py run that tests (not `fit` alone), its
# results.json shows test accuracy >= 0.9 (test/acc, or test_acc for the user-style modules of tests/byo).
check() {
    local name=$1 start=$SECONDS output status results
    shift
    output=$("$@" 2>&1)
    status=$?
    if [ $status -eq 0 ] && [[ "$*" == *train.py* ]] && [[ "$*" != *" fit "* ]]; then
        results=$(printf '%s\n' "$output" | sed -n 's/^results: //p' | tail -1)
        "$PYTHON" -c 'import json,sys; m=json.load(open(sys.argv[1]))["metrics"]; sys.exit(m.get("test/acc", m.get("test_acc", 0)) < 0.9)' \
            "$results" 2>/dev/null || status=1
    fi
    report "$name" "$start" "$status" "$output"
}

# refused NAME COMMAND...: PASS if the command stops with exit code 2 and a one-line error.
refused() {
    local name=$1 start=$SECONDS output status=0
    shift
    output=$("$@" 2>&1 >/dev/null)
    [ $? -eq 2 ] && [ "$(printf '%s\n' "$output" | grep -c .)" -eq 1 ] || status=1
    report "$name" "$start" "$status" "$output"
}

# sigterm NAME COMMAND...: PASS if a training run sent SIGTERM after its first step checkpoint exits 143 with
# last.ckpt saved, and `--ckpt_path last` then finishes the run.
sigterm() {
    local name=$1 start=$SECONDS output status=1 pid rc last
    shift
    last="$RUNS/sigterm/version_0/checkpoints/last.ckpt"
    "$@" --name sigterm --trainer.max_epochs 30 --checkpoint.every_n_steps 5 >"$RUNS/sigterm.log" 2>&1 &
    pid=$!
    for _ in $(seq 1200); do [ -e "$last" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    sleep 1
    kill -TERM $pid 2>/dev/null
    wait $pid
    rc=$?
    output=$(tail -15 "$RUNS/sigterm.log")
    if [ $rc -eq 143 ] && [ -e "$last" ]; then
        output=$("$@" --name sigterm --trainer.max_epochs 3 --ckpt_path last 2>&1) && status=0
    else
        output="exit code $rc (want 143), last.ckpt $( [ -e "$last" ] && echo saved || echo missing ):
$output"
    fi
    report "$name" "$start" "$status" "$output"
}

skip() { echo "SKIP  $1 (needs 2 GPUs; this machine has $NGPU)"; }

"$PYTHON" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"' || { echo "FAIL  no CUDA device"; exit 1; }
NGPU=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())')
echo "GPUs: $NGPU ($("$PYTHON" -c 'import torch; print(torch.cuda.get_device_name(0))')); $(date -u '+%Y-%m-%d %H:%M UTC')"

# Part 1: presets on one GPU.
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

# Part 2: issue 14 on CUDA.
if [ "$NGPU" -ge 2 ]; then
    check "ddp, devices=2 (nccl)" "$PYTHON" train.py --strategy ddp --trainer.devices 2 "${COMMON[@]}"
    check "fsdp, devices=2 (nccl), sharded last.ckpt/ resumed" "$PYTHON" train.py fit --strategy fsdp \
        --trainer.devices 2 "${COMMON[@]}" --name fsdp2 --trainer.max_epochs 1
    check "fsdp, devices=2, --ckpt_path last (folder renamed into place) resumes" "$PYTHON" train.py --strategy fsdp \
        --trainer.devices 2 "${COMMON[@]}" --name fsdp2 --ckpt_path last
    check "model_split on two devices, [cuda:0, cuda:1]" "$PYTHON" train.py --strategy model_split \
        --trainer.strategy.devices '[cuda:0, cuda:1]' "${COMMON[@]}"
    sigterm "SIGTERM under ddp, devices=2 (nccl): exit 143, last.ckpt, resume" "$PYTHON" train.py --strategy ddp \
        --trainer.devices 2 "${COMMON[@]}"
    check "SIGTERM under ddp (nccl): all ranks stop at one step, resume = uninterrupted (tests/test_sigterm_ddp.py)" \
        env LITPROJ_TEST_ACCELERATOR=gpu "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_sigterm_ddp.py -m slow
else
    skip "ddp, devices=2 (nccl)"
    skip "fsdp, devices=2 (nccl), sharded last.ckpt/ resumed"
    skip "model_split on two devices, [cuda:0, cuda:1]"
    skip "SIGTERM under ddp, devices=2 (nccl)"
    sigterm "SIGTERM, one GPU: exit 143, last.ckpt, resume" "$PYTHON" train.py "${COMMON[@]}"
fi
check "fsdp on GPU: kill -9 mid-save leaves the previous last.ckpt/ whole (tests/test_fsdp_checkpoints.py)" \
    env LITPROJ_TEST_ACCELERATOR=gpu "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_fsdp_checkpoints.py \
    -m slow -k kill_9
check "16-mixed (fp16 + gradient scaling on CUDA)" "$PYTHON" train.py --trainer.precision 16-mixed "${COMMON[@]}"
check "bf16-mixed, ddp devices=1" "$PYTHON" train.py --strategy ddp --trainer.devices 1 --trainer.precision bf16-mixed \
    "${COMMON[@]}"
refused "16-mixed with fsdp: one-line error, exit 2" "$PYTHON" train.py --strategy fsdp --trainer.devices 1 \
    --trainer.precision 16-mixed "${COMMON[@]}"
check "channels_last + bf16-mixed" "$PYTHON" train.py --model.channels_last true --trainer.precision bf16-mixed \
    "${COMMON[@]}"
check "a real CUDA out-of-memory, recovered with the same effective batch" \
    "$PYTHON" bench/gpu_probes.py oom_recovered "$RUNS"
check "GPU checkpoint resumed on the CPU (fit on GPU)" "$PYTHON" train.py fit "${COMMON[@]}" --name moved
check "GPU checkpoint resumed on the CPU (test --ckpt_path last, accelerator cpu)" "$PYTHON" train.py test \
    --runs_dir "$RUNS" --name moved --ckpt_path last --trainer.accelerator cpu --trainer.enable_progress_bar false
check "CUDA RNG state saved on more GPUs than here restores" "$PYTHON" bench/gpu_probes.py cuda_rng_of_more_devices "$RUNS"
check "loaders follow the Trainer (a cpu run on a GPU machine pins nothing)" \
    "$PYTHON" bench/gpu_probes.py pin_memory_follows_trainer "$RUNS"
check "empty_cache() frees no memory a tensor still uses; del does (memory_allocated vs memory_reserved)" \
    "$PYTHON" bench/gpu_probes.py empty_cache_frees_only_cached "$RUNS"

# Part 3: the equivalence proofs on CUDA.
check "equivalence proofs on CUDA (split == unsplit; DDP/FSDP == one process, 2 GPUs)" \
    env LITPROJ_TEST_ACCELERATOR=gpu "$PYTHON" -m pytest -q -rs -p no:cacheprovider tests/test_strategies.py \
    -k "split_outputs or split_batchnorm or equals" -m "slow or not slow"
echo "total $SECONDS s"
exit $failed

"""SIGTERM under DDP (2 gloo ranks, a real ``python train.py`` re-launching itself): every rank stops after the same
step, rank 0 saves ``last.ckpt``, the job exits 143, and resuming ends where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from pytorch_lightning import Callback
from torch.utils.data import TensorDataset

from {{ cookiecutter.package_name }}.data.resumable import ResumableLoader
from tests.helpers import QUIET, ROOT

MARKER_ENV = "{{ cookiecutter.package_name | upper }}_TEST_MARKER"
ACCELERATOR = os.environ.get("{{ cookiecutter.package_name | upper }}_TEST_ACCELERATOR", "cpu")  # bench/gpu_check.sh runs it on 2 GPUs (NCCL)
FLAGS = [
    "--strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", ACCELERATOR, "--trainer.max_epochs", "3",
    "--trainer.limit_train_batches", "6", "--trainer.limit_val_batches", "2", "--checkpoint.every_n_steps", "2",
    "--trainer.callbacks+=tests.test_sigterm_ddp.Pacer",
]  # fmt: skip


class Pacer(Callback):
    """Slows every step a little (so a signal lands mid-training), says when step 4 is done, and prints the step
    at which each rank stopped."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        time.sleep(0.3)
        if trainer.global_step == 4 and trainer.is_global_zero:
            Path(os.environ[MARKER_ENV]).touch()

    def on_exception(self, trainer, pl_module, exception) -> None:
        # One write (print writes the text and its newline separately, and the ranks share one stderr pipe).
        sys.stderr.write(f"rank {trainer.global_rank} stopped after step {trainer.global_step}\n")
        sys.stderr.flush()


def _start(tmp_path: Path, *args: str) -> subprocess.Popen:
    tmp_path.mkdir(exist_ok=True)
    command = [sys.executable, str(ROOT / "train.py"), "fit", "--runs_dir", str(tmp_path / "runs"), *QUIET, *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), MARKER_ENV: str(tmp_path / "step4")}
    return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _metrics(stdout: str) -> dict:
    results = [line.removeprefix("results: ") for line in stdout.splitlines() if line.startswith("results: ")]
    return json.loads(Path(results[-1]).read_text(encoding="utf-8"))["metrics"]


def _finish(process: subprocess.Popen, timeout: float = 300) -> tuple[str, str]:
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()  # rank 1 follows: Lightning's launcher watches its parent
        out, err = process.communicate()
        pytest.fail(f"hung after SIGTERM:\n{err[-3000:]}")


@pytest.mark.slow
@pytest.mark.skipif(ACCELERATOR == "gpu" and torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_sigterm_stops_every_ddp_rank_at_one_step_and_resumes_to_the_same_metrics(tmp_path):
    uninterrupted = _start(tmp_path / "whole", *FLAGS)
    out, err = _finish(uninterrupted)
    assert uninterrupted.returncode == 0, err[-3000:]
    expected = _metrics(out)

    interrupted = _start(tmp_path, *FLAGS)
    deadline = time.monotonic() + 300
    while not (tmp_path / "step4").exists():
        assert interrupted.poll() is None and time.monotonic() < deadline, "training ended before the signal"
        time.sleep(0.05)
    interrupted.send_signal(signal.SIGTERM)  # to rank 0, as `kill PID` does; rank 1 is its child
    _, err = _finish(interrupted, timeout=120)
    assert interrupted.returncode == 143, err[-3000:]
    assert err.count("stopped by SIGTERM") == 1, err[-3000:]  # from rank 0 only
    stops = {rank: int(step) for rank, step in re.findall(r"rank (\d+) stopped after step (\d+)", err)}
    assert set(stops) == {"0", "1"} and len(set(stops.values())) == 1, stops  # both ranks, the same step
    last = tmp_path / "runs" / "default" / "version_0" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == stops["0"] < 18

    resumed = _start(tmp_path, *FLAGS, "--ckpt_path", "last")
    out, err = _finish(resumed)
    assert resumed.returncode == 0, err[-3000:]
    metrics = _metrics(out)
    for name in ("val/loss", "val/acc"):
        assert metrics[name] == pytest.approx(expected[name], rel=1e-5), (name, metrics, expected)


def test_a_resumed_epoch_continues_after_the_batches_already_trained_on():
    """What the DDP test relies on, in one process: the restored progress says 4 batches were trained this epoch."""
    progress = SimpleNamespace(ready=4)
    trainer = SimpleNamespace(
        training=True,
        fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=SimpleNamespace(current=progress))),
    )
    owner = SimpleNamespace(trainer=trainer)
    loader = ResumableLoader(TensorDataset(torch.arange(12)), batch_size=2, owner=owner)
    state = torch.get_rng_state()
    assert [int(b[0][0]) for b in loader] == [8, 10]  # batches 4 and 5 of 6
    assert torch.equal(torch.get_rng_state(), state)  # as if the iterator had been created at the epoch's start
    progress.ready = 0  # a new epoch
    assert len(list(loader)) == 6
    trainer.training = False  # validation inside fit: from the start
    progress.ready = 4
    assert len(list(loader)) == 6
    assert isinstance(loader.state_dict(), dict)  # Lightning takes it for a resumable loader (no warning)

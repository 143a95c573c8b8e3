"""A real ``python train.py`` killed mid-epoch (kill -9) or preempted (SIGTERM) resumes with ``--ckpt_path last``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.helpers import QUIET, ROOT, train

STEPS_PER_EPOCH = 20
EVERY = ["--checkpoint.every_n_steps", "5"]


def start_training(tmp_path: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "train.py"), "fit", "--runs_dir", str(tmp_path / "runs"), *QUIET, *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step_checkpoint(process: subprocess.Popen, last: Path, mid_epoch: bool, timeout: float = 300) -> int:
    """Poll ``last.ckpt`` until it holds a step save (mid-epoch if asked); return its global step."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"training ended before it could be interrupted:\n{process.stderr.read()}")
        if last.is_file():
            step = torch.load(last, weights_only=True)["global_step"]  # atomic writes: never a torn file
            if step and (not mid_epoch or step % STEPS_PER_EPOCH):
                return step
        time.sleep(0.05)
    process.kill()
    pytest.fail("no step checkpoint appeared")


def test_kill_9_mid_epoch_then_resume_reaches_the_end(tmp_path):
    process = start_training(tmp_path, "--trainer.max_epochs", "4", *EVERY)
    last = tmp_path / "runs" / "default" / "version_0" / "checkpoints" / "last.ckpt"
    seen = wait_for_step_checkpoint(process, last, mid_epoch=True)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] >= seen  # the newest step save survived the kill intact
    resumed = train(tmp_path, "--trainer.max_epochs", "4", *EVERY, "--ckpt_path", "last")
    assert resumed["run_dir"] == str(last.parent.parent)
    assert resumed["global_step"] == 4 * STEPS_PER_EPOCH
    assert resumed["epochs"] == 4
    assert resumed["metrics"]["test/acc"] >= 0.9
    assert not list(last.parent.glob(".*"))  # no partial files left behind


def test_sigterm_saves_last_checkpoint_and_exits_143(tmp_path):
    process = start_training(tmp_path, "--trainer.max_epochs", "50", *EVERY)
    last = tmp_path / "runs" / "default" / "version_0" / "checkpoints" / "last.ckpt"
    seen = wait_for_step_checkpoint(process, last, mid_epoch=False)
    signalled = time.time_ns()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "stopped by SIGTERM" in stderr and "--ckpt_path last" in stderr
    assert "Traceback" not in stderr
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] >= seen
    assert last.stat().st_mtime_ns > signalled  # written on the signal, not only at the last step interval
    assert not (last.parent.parent / "results.json").exists()

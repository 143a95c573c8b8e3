"""A DDP job whose rank 1 dies ends within seconds, non-zero, naming the rank (CPU, 2 processes, gloo).

Lightning ends the job: its launcher's ``_ChildProcessObserver`` (polling every 5 s) kills every rank and logs
``[rank: 1] Child process with PID N terminated with code -9``, unless rank 0's collective fails first
("Connection reset by peer"); then litproj's ``DeadRankReport`` names the rank. Either way the promise holds,
and this test fails when it does not (a Lightning upgrade, a hang until the collective timeout).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import psutil
import pytest
from lightning_fabric.plugins.environments import LightningEnvironment
from pytorch_lightning.strategies.launchers import _SubprocessScriptLauncher
from pytorch_lightning.utilities.exceptions import SIGTERMException

from litproj.reliability.rank_watchdog import DeadRankReport
from tests.test_preemption import start_training, wait_for_step_checkpoint

DDP = ["--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu"]
#: Lightning polls every 5 s; the rest is slack for 2 busy CPU cores.
DEADLINE_S = 15


def rank_process(parent: psutil.Process, rank: int) -> psutil.Process:
    for child in parent.children(recursive=True):
        try:
            if child.environ().get("LOCAL_RANK") == str(rank):
                return child
        except psutil.Error:
            continue
    pytest.fail(f"no process with LOCAL_RANK={rank} under pid {parent.pid}")


@pytest.mark.parametrize("exception", [RuntimeError("Connection reset by peer"), SIGTERMException()])
def test_rank_0_names_a_launched_rank_that_died(exception, capsys):
    """Pins private ``_SubprocessScriptLauncher.procs`` (pytorch-lightning 2.6), which ``DeadRankReport`` reads."""
    launcher = _SubprocessScriptLauncher(LightningEnvironment(), num_processes=2, num_nodes=1)
    dead = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    dead.wait()
    assert launcher.procs == []  # the attribute that DeadRankReport reads, filled by launch()
    launcher.procs.append(dead)
    trainer = SimpleNamespace(strategy=SimpleNamespace(launcher=launcher), is_global_zero=True, global_rank=0)
    DeadRankReport().on_exception(trainer, None, exception)
    named = f"error: DDP rank 1 (pid {dead.pid}) killed by SIGKILL"
    # A preemption stops every rank together: no rank is blamed for it.
    assert (named in capsys.readouterr().err) == (not isinstance(exception, SIGTERMException))


@pytest.mark.slow
def test_killing_rank_1_ends_the_job_within_seconds_naming_the_rank(tmp_path):
    process = start_training(tmp_path, *DDP, "--trainer.max_epochs", "200", "--checkpoint.every_n_steps", "2")
    last = tmp_path / "runs" / "default" / "version_0" / "checkpoints" / "last.ckpt"
    wait_for_step_checkpoint(process, last, mid_epoch=False, timeout=400)  # both ranks are training
    rank_1 = rank_process(psutil.Process(process.pid), 1)
    killed = time.monotonic()
    rank_1.send_signal(signal.SIGKILL)
    try:
        stdout, stderr = process.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"the job did not end within {DEADLINE_S} s of rank 1's death:\n{stdout[-2000:]}{stderr[-2000:]}")
    ended = time.monotonic() - killed
    output = stdout + stderr
    assert process.returncode != 0, output[-2000:]
    assert ended < DEADLINE_S
    named = (
        rf"\[rank: 1\] Child process with PID {rank_1.pid} terminated with code -9"  # Lightning's observer
        rf"|error: DDP rank 1 \(pid {rank_1.pid}\) killed by SIGKILL"  # litproj's DeadRankReport
    )
    assert re.search(named, output), output[-3000:]
    time.sleep(1)
    assert not [
        p
        for p in psutil.process_iter(["environ"])
        if (p.info["environ"] or {}).get("LITPROJ_RUN_DIR") == str(last.parent.parent)
    ], "a rank outlived the job"

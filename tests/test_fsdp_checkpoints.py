"""Sharded (FSDP) ``last.ckpt/`` folders are as safe as checkpoint files: written beside the old one and renamed
(a ``kill -9`` mid-save leaves the previous checkpoint whole), and refused when their pickles would run code."""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
import torch.distributed.checkpoint as dcp
from pytorch_lightning import LightningModule

from litproj.errors import UserError
from litproj.reliability.checkpoint_guard import verify_checkpoint
from litproj.reliability.checkpointing import replace_folder, staging_path, tidy_after_kill
from tests.helpers import QUIET, ROOT, train


class _Mkdir:
    """A pickle that creates a folder when loaded: stands for any code an untrusted checkpoint could run."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        return os.mkdir, (self.target,)


def sharded_folder(path: Path) -> Path:
    """A sharded checkpoint as Lightning's FSDP2 strategy writes it: torch's shards + ``.metadata``, ``meta.pt``."""
    optimizer = {"state": {"w": {"step": torch.tensor(3.0), "exp_avg": torch.zeros(4)}}, "param_groups": [{"lr": 0.1}]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no process group: torch assumes one process, and says so
        dcp.save(
            {"state_dict": {"net.w": torch.ones(4, dtype=torch.bfloat16)}, "optimizer_0": optimizer}, checkpoint_id=path
        )
    torch.save({"epoch": 1, "global_step": 3, "loops": {}, "callbacks": {}}, path / "meta.pt")
    return path


def test_a_genuine_sharded_folder_passes_without_trust(tmp_path):
    verify_checkpoint(str(sharded_folder(tmp_path / "last.ckpt")), LightningModule())


def test_a_sharded_folder_whose_metadata_runs_code_is_refused_unless_trusted(tmp_path):
    folder = sharded_folder(tmp_path / "last.ckpt")
    ran = tmp_path / "ran"
    (folder / ".metadata").write_bytes(pickle.dumps(_Mkdir(ran)))
    with pytest.raises(
        UserError, match=r"refusing to load .*\.metadata would call posix\.mkdir.*--trust_checkpoint true"
    ):
        verify_checkpoint(str(folder), LightningModule())
    assert not ran.exists()
    verify_checkpoint(str(folder), LightningModule(), trust=True)  # the user vouched for it: Lightning loads it


def test_a_sharded_folder_whose_meta_pt_runs_code_is_refused(tmp_path):
    folder = sharded_folder(tmp_path / "last.ckpt")
    torch.save({"global_step": 3, "hook": _Mkdir(tmp_path / "ran")}, folder / "meta.pt")
    with pytest.raises(UserError, match=r"refusing to load .*meta\.pt.*--trust_checkpoint true"):
        verify_checkpoint(str(folder), LightningModule())
    assert not (tmp_path / "ran").exists()


def test_a_folder_that_is_no_sharded_checkpoint_is_one_line(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(UserError, match=r"folder .*photos' is not a sharded checkpoint"):
        verify_checkpoint(str(tmp_path / "photos"), LightningModule())


def test_train_py_refuses_an_untrusted_sharded_folder_before_running(tmp_path):
    folder = sharded_folder(tmp_path / "given" / "last.ckpt")
    (folder / ".metadata").write_bytes(pickle.dumps(_Mkdir(tmp_path / "ran")))
    with pytest.raises(UserError, match="--trust_checkpoint true"):
        train(tmp_path, "test", "--ckpt_path", str(folder))
    assert not (tmp_path / "ran").exists()
    assert not [p for p in (tmp_path / "runs").rglob("*") if p.is_file()]  # refused before the run wrote anything


def test_replacing_a_folder_keeps_old_or_new_and_tidying_restores_one_moved_aside(tmp_path):
    last = tmp_path / "last.ckpt"
    (last).mkdir()
    (last / "shard").write_text("old", encoding="utf-8")
    staged = staging_path(last)
    staged.mkdir()
    (staged / "shard").write_text("new", encoding="utf-8")
    replace_folder(staged, last)
    assert (last / "shard").read_text(encoding="utf-8") == "new" and sorted(tmp_path.iterdir()) == [last]
    # killed between the two renames: the previous folder is aside, nothing at last.ckpt; a partial save lies around
    os.replace(last, tmp_path / ".last.ckpt.0123abcd.ckpt-aside")
    staging_path(last).mkdir()
    tidy_after_kill(tmp_path)
    assert (last / "shard").read_text(encoding="utf-8") == "new" and sorted(tmp_path.iterdir()) == [last]


# Installed before train.py runs: the second checkpoint save hangs once torch has written every shard (as a kill -9
# would find it), after noting what the checkpoint folder held when that save began.
HANG_IN_SECOND_SAVE = """
import hashlib, json, os, sys, time
from pathlib import Path
import pytorch_lightning as pl
from torch.distributed.checkpoint import FileSystemWriter

saves = []
save_checkpoint, write_data = pl.Trainer.save_checkpoint, FileSystemWriter.write_data

def digest(folder):
    files = [p for p in sorted(folder.rglob("*")) if p.is_file()]
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

def noting_save(self, filepath, *args, **kwargs):
    saves.append(filepath)
    if len(saves) == 2:
        Path(os.environ["HOOK_DIR"], "before.json").write_text(json.dumps(digest(Path(filepath))))
    return save_checkpoint(self, filepath, *args, **kwargs)

def hanging_write(self, plan, planner):
    future = write_data(self, plan, planner)
    if len(saves) == 2:
        future.wait()
        Path(os.environ["HOOK_DIR"], "hanging").touch()
        time.sleep(600)
    return future

pl.Trainer.save_checkpoint, FileSystemWriter.write_data = noting_save, hanging_write
sys.argv[0] = os.environ["TRAIN_PY"]
from litproj.cli.runner import main
main()
"""
ACCELERATOR = os.environ.get("LITPROJ_TEST_ACCELERATOR", "cpu")  # bench/gpu_check.sh runs it on CUDA
FSDP_ONE = [
    "--strategy", "fsdp", "--trainer.devices", "1", "--trainer.accelerator", ACCELERATOR, "--trainer.max_epochs", "1",
    "--trainer.limit_train_batches", "6", "--trainer.limit_val_batches", "2", "--checkpoint.every_n_steps", "2",
]  # fmt: skip


def _digest(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_kill_9_during_a_sharded_save_leaves_the_previous_checkpoint_whole(tmp_path):
    import json

    launcher = tmp_path / "launch.py"
    launcher.write_text(HANG_IN_SECOND_SAVE, encoding="utf-8")
    command = [sys.executable, str(launcher), "fit", "--runs_dir", str(tmp_path / "runs"), *QUIET, *FSDP_ONE]
    env = {**os.environ, "HOOK_DIR": str(tmp_path), "TRAIN_PY": str(ROOT / "train.py")}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 240
    while not (tmp_path / "hanging").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the second save never started:\n{process.communicate()[1][-3000:]}")
        time.sleep(0.05)
    last = tmp_path / "runs" / "default" / "version_0" / "checkpoints" / "last.ckpt"
    before = json.loads((tmp_path / "before.json").read_text(encoding="utf-8"))
    assert before and _digest(last) == before  # every new shard is written, yet last.ckpt/ is untouched
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert torch.load(last / "meta.pt", weights_only=True)["global_step"] == 2
    again = [sys.executable, str(ROOT / "train.py"), "fit", "--runs_dir", str(tmp_path / "runs"), *QUIET, *FSDP_ONE]
    resumed = subprocess.run([*again, "--ckpt_path", "last"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert torch.load(last / "meta.pt", weights_only=True)["global_step"] == 6
    assert not [p.name for p in last.parent.iterdir() if p.name.startswith(".")]  # the killed save's folder is gone

"""Checkpoints restore everything a run needs: same seed -> same results, resume -> same as uninterrupted."""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from pytorch_lightning import Callback, Trainer

import litproj.reliability.checkpointing as checkpointing
from litproj.cli.runner import run
from tests.helpers import QUIET, train

TWO_EPOCHS = ["--trainer.max_epochs", "2"]


class StopAfterFirstEpoch(Callback):
    """Ends the fit after epoch 0 as a preemption would, after that epoch's checkpoints are written."""

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        trainer.should_stop = True


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    return train(tmp_path_factory.mktemp("uninterrupted"), *TWO_EPOCHS)


def test_same_seed_and_config_give_identical_results(uninterrupted, tmp_path):
    again = train(tmp_path, *TWO_EPOCHS)
    assert again["metrics"] == uninterrupted["metrics"]
    assert again["metrics"]["test/acc"] > 0.8


def test_resume_restores_optimizer_scheduler_rng_and_counters(uninterrupted, tmp_path):
    """Stopped after epoch 0 and resumed, the run ends exactly where the uninterrupted one does."""
    runs = ["--runs_dir", str(tmp_path / "runs"), *QUIET, *TWO_EPOCHS]
    first = run(["fit", *runs], trainer_defaults={"callbacks": [StopAfterFirstEpoch()]})
    assert first["global_step"] == 20
    resumed = run([*runs, "--ckpt_path", "last"])
    assert resumed["run_dir"] == first["run_dir"]
    assert resumed["global_step"] == uninterrupted["global_step"] == 40
    assert resumed["metrics"] == uninterrupted["metrics"]


def test_step_checkpoints_resume_mid_epoch(tmp_path):
    """``every_n_steps`` refreshes last.ckpt between epoch saves; resuming from one keeps the step count."""
    stopped = train(tmp_path, "fit", "--trainer.max_steps", "27", "--checkpoint.every_n_steps", "5")
    last = torch.load(stopped["last_checkpoint"], weights_only=True)
    assert last["global_step"] == 25  # the newest step save: at most one interval (5 steps) lost
    assert list((tmp_path / "runs" / "default" / "version_0" / "checkpoints").glob("best-epoch00.ckpt"))
    # The resume starts from the run's config.yaml (max_steps 27): lift that stop to train on to two epochs.
    resumed = train(tmp_path, "fit", *TWO_EPOCHS, "--trainer.max_steps", "-1", "--ckpt_path", "last")
    assert resumed["global_step"] == 40
    assert resumed["epochs"] == 2


def test_step_checkpoints_count_optimizer_steps_not_micro_batches(tmp_path, monkeypatch):
    """Under gradient accumulation (which OOM recovery turns on) ``every_n_steps 1`` saves once per optimizer step."""
    saved_at: list[int] = []
    save = Trainer.save_checkpoint

    def spy(trainer, filepath, *args, **kwargs):
        if filepath.endswith("last.ckpt"):
            saved_at.append(trainer.global_step)
        return save(trainer, filepath, *args, **kwargs)

    monkeypatch.setattr(Trainer, "save_checkpoint", spy)
    accumulate = ["--trainer.accumulate_grad_batches", "2", "--checkpoint.every_n_steps", "1"]
    result = train(tmp_path, "fit", "--trainer.max_steps", "4", "--trainer.limit_val_batches", "1", *accumulate)
    assert result["global_step"] == 4
    # One save after each of the 4 optimizer steps (8 micro-batches); the run may end with one more save of step 4.
    assert saved_at[:4] == [1, 2, 3, 4] and saved_at[4:] in ([], [4]), saved_at
    assert torch.load(result["last_checkpoint"], weights_only=True)["global_step"] == 4
    assert sorted(p.name for p in (tmp_path / "runs" / "default" / "version_0" / "checkpoints").iterdir()) == [
        "last.ckpt"
    ]  # the two callbacks share last.ckpt: no last-v1.ckpt


def test_trust_checkpoint_reaches_lightnings_own_loading(tmp_path):
    """``--trust_checkpoint true`` unpickles fully in Lightning's load too; without it the file is refused."""
    path = train(tmp_path, "fit", "--trainer.max_steps", "2", "--trainer.limit_val_batches", "1")["last_checkpoint"]
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["made_on"] = datetime.date(2024, 1, 1)  # harmless, but not allowed by weights_only=True
    torch.save(checkpoint, path)
    with pytest.raises(Exception, match="refusing to load"):
        train(tmp_path, "test", "--ckpt_path", path)
    tested = train(tmp_path, "test", "--ckpt_path", path, "--trust_checkpoint", "true")
    assert "test/acc" in tested["metrics"]


def test_interrupted_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    checkpointing.atomic_save({"step": 1}, path)

    def dies_halfway(obj, file):
        file.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt  # what a kill looks like from inside the writer

    monkeypatch.setattr(checkpointing.torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        checkpointing.atomic_save({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def _die_mid_copy(monkeypatch) -> None:
    """A kill during a file copy, as seen from inside the copier: half the bytes written, then gone."""

    def dies(*args, **kwargs):
        out = args[0] if isinstance(args[0], int) else args[1].fileno()
        os.write(out, b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "sendfile", dies)
    monkeypatch.setattr(shutil, "copyfileobj", dies)


def test_lightnings_own_writer_is_not_atomic_across_filesystems(tmp_path, monkeypatch):
    """Why ``SafeCheckpointIO`` stays: Lightning stages the file in $TMPDIR and, across filesystems, copies in place.

    Pins private ``lightning_fabric.utilities.cloud_io._atomic_save`` (pytorch-lightning 2.6): when this test
    fails, Lightning's writer has become atomic here and litproj's ``atomic_save`` can go.
    """
    from lightning_fabric.utilities.cloud_io import _atomic_save

    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs a temporary folder on another filesystem than tmp_path")
    path = tmp_path / "last.ckpt"
    _atomic_save({"step": 1}, path)
    staging = tempfile.mkdtemp(dir=shm)
    try:
        monkeypatch.setattr(tempfile, "tempdir", staging)
        _die_mid_copy(monkeypatch)
        with pytest.raises(KeyboardInterrupt):
            _atomic_save({"step": 2}, path)
        monkeypatch.undo()
    finally:
        shutil.rmtree(staging)  # fsspec leaves its staging file there
    with pytest.raises((RuntimeError, EOFError)):  # the previous checkpoint is gone, the new one is half written
        torch.load(path, weights_only=True)

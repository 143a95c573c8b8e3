"""Checkpoints restore everything a run needs: same seed -> same results, resume -> same as uninterrupted."""

from __future__ import annotations

import pytest
import torch
from pytorch_lightning import Callback

import {{ cookiecutter.package_name }}.checkpointing as checkpointing
from {{ cookiecutter.package_name }}.runner import run
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
    resumed = train(tmp_path, "fit", *TWO_EPOCHS, "--checkpoint.every_n_steps", "5", "--ckpt_path", "last")
    assert resumed["global_step"] == 40
    assert resumed["epochs"] == 2


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

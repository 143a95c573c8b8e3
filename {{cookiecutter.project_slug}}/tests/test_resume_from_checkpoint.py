"""``--ckpt_path`` alone rebuilds the run that saved the checkpoint (its config.yaml), and ``best`` is the checkpoint
callback's best, not the newest file name."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
import torch

from {{ cookiecutter.package_name }} import rundir
from {{ cookiecutter.package_name }}.cli.args import prepare
from {{ cookiecutter.package_name }}.cli.resume import changes
from {{ cookiecutter.package_name }}.errors import UserError
from tests.helpers import train

SHORT = ["--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2", "--trainer.limit_test_batches", "2"]


@pytest.fixture(scope="module")
def resnet_run(tmp_path_factory) -> tuple[Path, dict]:
    """A short epoch of ``--model.backbone resnet18``: a run whose flags a resume must not need again."""
    tmp_path = tmp_path_factory.mktemp("resnet")
    return tmp_path, train(tmp_path, "fit", "--model.backbone", "resnet18", "--trainer.max_epochs", "1", *SHORT)


def test_checkpoint_alone_resumes_as_trained_in_the_same_run_folder(resnet_run, capsys):
    tmp_path, first = resnet_run
    capsys.readouterr()
    resumed = train(tmp_path, "--ckpt_path", first["last_checkpoint"], "--trainer.max_epochs", "2")
    assert resumed["run_dir"] == first["run_dir"]
    assert (resumed["epochs"], resumed["global_step"]) == (2, 6)  # limit_train_batches 3 kept from the saved config
    assert "test/acc" in resumed["metrics"]  # fit, then test: the default stage
    saved = torch.load(resumed["last_checkpoint"], weights_only=True)
    assert saved["hyper_parameters"]["backbone"] == "resnet18"
    notes = [line for line in capsys.readouterr().err.splitlines() if "resuming" in line]
    config = Path(first["run_dir"]) / "config.yaml"
    assert notes == [f"note: resuming with changes: --trainer.max_epochs 2 (the rest from {config})"]


def test_test_best_needs_no_flags_after_a_resnet_run(resnet_run, capsys):
    tmp_path, first = resnet_run
    tested = train(tmp_path, "test", "--ckpt_path", "best")
    assert tested["stage"] == "test" and 0 <= tested["metrics"]["test/acc"] <= 1
    assert tested["run_dir"] != first["run_dir"]  # a new folder: nothing of the fit is overwritten
    assert f"note: testing with {Path(first['run_dir']) / 'config.yaml'}, unchanged" in capsys.readouterr().err


def test_user_module_resumes_from_last_without_its_class_flags(tmp_path):
    byo = ["--model", "tests.byo.models.VectorClassifier", "--model.hidden", "16"]
    byo += ["--data", "tests.byo.data.DigitsVectors", "--data.batch_size", "16"]
    first = train(tmp_path, "fit", *byo, "--trainer.max_epochs", "1", *SHORT)
    resumed = train(tmp_path, "fit", "--ckpt_path", "last", "--trainer.max_epochs", "2")
    assert resumed["run_dir"] == first["run_dir"]
    assert (resumed["epochs"], resumed["global_step"]) == (2, 6)
    saved = torch.load(resumed["last_checkpoint"], weights_only=True)
    assert saved["hyper_parameters"]["hidden"] == 16
    assert saved["datamodule_hyper_parameters"]["batch_size"] == 16


def test_checkpoint_without_saved_config_uses_the_flags_given_and_says_so(tmp_path, capsys):
    first = train(tmp_path, "fit", "--trainer.max_epochs", "1", *SHORT)
    (Path(first["run_dir"]) / "config.yaml").unlink()
    resumed = train(tmp_path, "fit", "--ckpt_path", first["last_checkpoint"], "--trainer.max_epochs", "2", *SHORT)
    assert resumed["run_dir"] != first["run_dir"] and resumed["epochs"] == 2
    err = capsys.readouterr().err
    assert f"note: --ckpt_path: {first['run_dir']} has no config.yaml; the run is built from the flags given" in err


def test_saved_config_cannot_grant_trust(tmp_path):
    """Trust is given per command: a config.yaml beside a checkpoint saying ``trust_checkpoint: true`` is ignored."""
    path = train(tmp_path, "fit", "--trainer.max_steps", "2", "--trainer.limit_val_batches", "1")["last_checkpoint"]
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["made_on"] = datetime.date(2024, 1, 1)  # harmless, but not allowed by weights_only=True
    torch.save(checkpoint, path)
    config = rundir.run_dir_of(Path(path)) / "config.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("trust_checkpoint: false", "trust_checkpoint: true"),
        encoding="utf-8",
    )
    with pytest.raises(UserError, match="refusing to load"):
        train(tmp_path, "test", "--ckpt_path", path)


def test_changes_lists_only_flags_that_differ_from_the_saved_config():
    saved = {
        "trainer": {"max_epochs": 2, "enable_progress_bar": False},
        "runs_dir": "runs",
        "model": {"class_path": "m.M", "init_args": {"backbone": "resnet18"}},
    }
    args = ["--trainer.max_epochs", "4", "--runs_dir", "runs", "--model.backbone=resnet18", "--ckpt_path", "x.ckpt"]
    args += ["--trainer.enable_progress_bar", "false", "--model.lr=0.1", "--plan", "--config", "c.yaml"]
    assert changes(args, saved) == ["--trainer.max_epochs 4", "--model.lr=0.1", "--plan", "--config c.yaml"]


def test_best_is_the_recorded_best_not_the_newest_file(tmp_path):
    """save_top_k 2 keeping the lowest step: epochs 0 and 1 are kept, the best is epoch 0, the newest epoch 1."""
    top_two = ["--checkpoint.save_top_k", "2", "--checkpoint.monitor", "step", "--checkpoint.mode", "min"]
    first = train(tmp_path, "fit", "--trainer.max_epochs", "3", *top_two, *SHORT)
    folder = Path(first["run_dir"]) / "checkpoints"
    assert sorted(p.name for p in folder.glob("best*.ckpt")) == ["best-epoch00.ckpt", "best-epoch01.ckpt"]
    assert rundir.latest_checkpoint(tmp_path / "runs", "default", "best") == folder / "best-epoch00.ckpt"
    resume = prepare(["test", "--runs_dir", str(tmp_path / "runs"), "--ckpt_path", "best"]).resume
    assert resume is not None and resume.checkpoint == folder / "best-epoch00.ckpt"
    # Resumed from its saved config, the run keeps the monitor it was given (no fall-back to a validation loss).
    resumed = train(tmp_path, "fit", "--ckpt_path", "last", "--trainer.max_epochs", "4")
    assert resumed["best_checkpoint"] == str(folder / "best-epoch00.ckpt")


def _fake_run(run_dir: Path, names: list[str], best: str | None) -> Path:
    folder = run_dir / "checkpoints"
    folder.mkdir(parents=True)
    for age, name in enumerate(reversed(names)):  # the first name is the newest file
        torch.save({"state_dict": {}}, folder / name)
        os.utime(folder / name, ns=(10**18 - age * 10**9, 10**18 - age * 10**9))
    if best is not None:  # the newest file records the best, from where the run was trained (another path)
        state = {"ModelCheckpoint{'monitor': 'val/acc'}": {"best_model_path": f"/gone/checkpoints/{best}"}}
        torch.save({"state_dict": {}, "callbacks": state}, folder / names[0])
    return folder


def test_best_after_epoch_99_and_from_a_moved_run_folder(tmp_path):
    names = ["last.ckpt", "best-epoch100.ckpt", "best-epoch99.ckpt"]  # newest first; epoch100 sorts before epoch99
    folder = _fake_run(tmp_path / "runs" / "x" / "version_0", names, "best-epoch100.ckpt")
    assert rundir.latest_checkpoint(tmp_path / "runs", "x", "best") == folder / "best-epoch100.ckpt"


def test_best_without_a_record_is_the_only_candidate_or_an_error(tmp_path):
    _fake_run(tmp_path / "runs" / "x" / "version_0", ["last.ckpt", "best-epoch03.ckpt"], None)
    assert rundir.latest_checkpoint(tmp_path / "runs", "x", "best").name == "best-epoch03.ckpt"
    _fake_run(tmp_path / "runs" / "x" / "version_1", ["last.ckpt", "a.ckpt", "b.ckpt"], None)
    with pytest.raises(UserError, match="none records which is best"):
        rundir.latest_checkpoint(tmp_path / "runs", "x", "best")

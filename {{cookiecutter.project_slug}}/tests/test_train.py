"""The default experiment trains to the promised accuracy and leaves a complete run folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.helpers import train, train_subprocess


def test_default_run_reaches_accuracy(default_run):
    assert default_run["metrics"]["test/acc"] >= 0.97
    assert default_run["metrics"]["val/acc"] >= 0.95


def test_results_json_matches_returned_results(default_run):
    run_dir = Path(default_run["run_dir"])
    saved = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert saved == default_run
    for key in ("metrics", "best_checkpoint", "last_checkpoint", "run_dir", "global_step", "epochs"):
        assert key in saved
    assert saved["epochs"] == 12
    assert saved["global_step"] == 12 * 20  # 1258 training images / batch 64 = 20 steps per epoch


def test_run_folder_contents(default_run):
    run_dir = Path(default_run["run_dir"])
    assert (run_dir / "config.yaml").is_file()
    assert (run_dir / "confusion_matrix.png").stat().st_size > 1000
    assert list(run_dir.glob("events.out.tfevents.*"))
    for key in ("best_checkpoint", "last_checkpoint"):
        checkpoint = torch.load(default_run[key], map_location="cpu", weights_only=True)
        assert checkpoint["state_dict"], key
        assert checkpoint["hyper_parameters"]["backbone"] == "small_cnn"


def test_tensorboard_hparams_have_final_metrics(default_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(default_run["run_dir"])
    events.Reload()
    assert "test/acc" in events.Tags()["scalars"]
    assert "test/confusion_matrix" in events.Tags()["images"]
    plugins = events.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in plugins


def test_tensorboard_has_the_step_loss_at_the_logging_cadence_and_each_epochs_mean(default_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(default_run["run_dir"])
    events.Reload()
    steps = events.Scalars("train/loss_step")  # self.log(on_step=True, on_epoch=True) writes _step and _epoch
    # 12 epochs x 20 steps, log_every_n_steps 10 (configs/default.yaml): Lightning writes steps 9, 19, ..., 239.
    assert [e.step for e in steps] == list(range(9, 240, 10))
    epochs = [e.value for e in events.Scalars("train/loss_epoch")]
    assert len(epochs) == 12
    assert epochs[-1] < epochs[0] / 4  # the epoch means show the loss falling
    assert epochs[0] > min(e.value for e in steps if e.step < 20)  # a mean over all steps, not the last one


def test_test_subcommand_reproduces_test_accuracy(default_run, tmp_path):
    results = train(tmp_path, "test", "--ckpt_path", default_run["best_checkpoint"])
    assert results["stage"] == "test"
    assert results["metrics"]["test/acc"] == pytest.approx(default_run["metrics"]["test/acc"], abs=1e-6)
    assert results["run_dir"] != default_run["run_dir"]  # a new folder: nothing of the fit is overwritten


def test_validate_subcommand(default_run, tmp_path):
    results = train(tmp_path, "validate", "--ckpt_path", default_run["best_checkpoint"])
    assert results["metrics"]["val/acc"] >= 0.95


def test_resume_continues_step_count(tmp_path):
    first = train(tmp_path, "--trainer.max_epochs", "2")
    assert first["global_step"] == 40
    resumed = train(tmp_path, "--trainer.max_epochs", "3", "--ckpt_path", "last")
    assert resumed["run_dir"] == first["run_dir"]
    assert resumed["global_step"] == 60
    assert resumed["epochs"] == 3


def test_command_line_prints_results_line_last(tmp_path):
    done = train_subprocess(tmp_path, "--trainer.max_epochs", "1")
    assert done.returncode == 0, done.stderr
    last_line = done.stdout.strip().splitlines()[-1]
    assert last_line.startswith("results: ")
    path = Path(last_line.removeprefix("results: "))
    path = path if path.is_absolute() else tmp_path / path
    assert json.loads(path.read_text(encoding="utf-8"))["epochs"] == 1

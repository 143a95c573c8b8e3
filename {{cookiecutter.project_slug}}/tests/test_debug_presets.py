"""The debug presets in configs/debug/: each runs, and does what its first line promises."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import ROOT, train

DEBUG = ROOT / "configs" / "debug"


def _preset(name: str) -> list[str]:
    return ["--config", str(DEBUG / f"{name}.yaml")]


def test_fast_dev_run_runs_one_batch_per_stage(tmp_path):
    results = train(tmp_path, *_preset("fast_dev_run"))
    assert results["global_step"] == 1
    assert "test/acc" in results["metrics"]


def test_overfit_reaches_train_accuracy_one(tmp_path):
    results = train(tmp_path, *_preset("overfit"))
    assert results["metrics"]["train/acc"] == 1.0


def test_limit_runs_a_whole_short_run(tmp_path):
    results = train(tmp_path, *_preset("limit"))
    assert results["global_step"] == 10  # 2 epochs x 5 batches
    assert Path(results["best_checkpoint"]).is_file() and "test/acc" in results["metrics"]


def test_profile_writes_its_report_in_the_run_folder(tmp_path):
    results = train(tmp_path, *_preset("profile"), "--trainer.max_epochs", "1")
    report = Path(results["run_dir"]) / "fit-profile.txt"
    assert "training_step" in report.read_text(encoding="utf-8")


def test_anomaly_mode_trains(tmp_path):
    results = train(tmp_path, *_preset("anomaly"), "--trainer.limit_train_batches", "3")
    assert results["global_step"] == 3

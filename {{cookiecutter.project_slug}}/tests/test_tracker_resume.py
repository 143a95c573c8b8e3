"""One tracker run per training: a resumed fit continues the TensorBoard folder, the W&B run and the MLflow run that
the interrupted one started (W&B offline, MLflow's local file store)."""

from __future__ import annotations

import json
import re
import signal
import sys
from pathlib import Path

import pytest
import torch

from {{ cookiecutter.package_name }}.rundir import saved_callback_states
from {{ cookiecutter.package_name }}.tracking.loggers import is_installed
from {{ cookiecutter.package_name }}.tracking.trackers import RECORD, recorded_runs
from tests.helpers import ROOT, train
from tests.test_preemption import start_training, wait_for_step_checkpoint

LOGGERS = ["--config", str(ROOT / "configs/logger/wandb.yaml"), "--config", str(ROOT / "configs/logger/mlflow.yaml")]
SHORT = ["--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2", "--trainer.limit_test_batches", "2"]
needs_trackers = pytest.mark.skipif(
    not (is_installed("wandb") and is_installed("mlflow")), reason='needs pip install -e ".[wandb,mlflow]"'
)


@pytest.fixture
def offline_trackers(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_RUN_ID", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _metric_steps(tracking_uri: str, run_id: str, key: str) -> list[int]:
    from mlflow.tracking import MlflowClient

    return sorted(m.step for m in MlflowClient(tracking_uri).get_metric_history(run_id, key))


@needs_trackers
def test_resumed_fit_continues_tensorboard_wandb_and_mlflow_runs(tmp_path, offline_trackers):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    first = train(tmp_path, "fit", *LOGGERS, "--trainer.max_epochs", "1", *SHORT)
    run_dir = Path(first["run_dir"])
    record = json.loads((run_dir / RECORD).read_text(encoding="utf-8"))
    assert record["wandb"]["id"] == first["trackers"]["wandb"]["id"]
    assert record["mlflow"]["run_id"] == first["trackers"]["mlflow"]["run_id"]
    assert saved_callback_states(Path(first["last_checkpoint"]))["TrackerRuns"] == record  # in the checkpoint too
    saved_config = (run_dir / "config.yaml").read_text(encoding="utf-8")
    assert record["wandb"]["id"] not in saved_config and record["mlflow"]["run_id"] not in saved_config

    resumed = train(tmp_path, "--ckpt_path", "last", "--trainer.max_epochs", "2")
    assert resumed["run_dir"] == first["run_dir"]
    assert resumed["trackers"]["tensorboard"] == first["trackers"]["tensorboard"] == str(run_dir)
    assert resumed["trackers"]["wandb"]["id"] == record["wandb"]["id"]
    assert resumed["trackers"]["mlflow"]["run_id"] == record["mlflow"]["run_id"]
    # Both epochs in the one MLflow run and the one TensorBoard folder.
    tracked = resumed["trackers"]["mlflow"]
    assert _metric_steps(tracked["tracking_uri"], tracked["run_id"], "val/acc") == [2, 5]
    events = EventAccumulator(str(run_dir))
    events.Reload()
    # (step 0: the final metrics beside the hyperparameters, FinalMetricsToHParams)
    assert [e.step for e in events.Scalars("val/acc") if e.step] == [2, 5]
    # W&B writes each session's offline folder under the same run id: offline-run-<start second>-<id>, with "-1"
    # appended when both sessions start within the same second; `wandb sync` joins them.
    session = re.compile(rf"offline-run-\d{{ '{' }}{8}}_\d{{ '{' }}{6}}-{re.escape(record['wandb']['id'])}(-\d+)?")
    folders = [f.name for f in (run_dir / "wandb").glob("offline-run-*")]
    assert folders and all(session.fullmatch(name) for name in folders), folders
    assert sys.modules["wandb"].run is None

    # A saved config reused for another run folder starts new tracker runs there (nothing stale carried over).
    tested = train(tmp_path, "test", "--ckpt_path", "last")
    assert tested["trackers"]["wandb"]["id"] != record["wandb"]["id"]
    assert tested["trackers"]["mlflow"]["run_id"] != record["mlflow"]["run_id"]


def test_record_falls_back_to_the_checkpoint(tmp_path):
    """A run folder that lost trackers.json still continues the runs named in its checkpoint."""
    ids = {"wandb": {"id": "abc123"}, "mlflow": {"run_id": "r1", "tracking_uri": "file:///x"}}
    checkpoint = tmp_path / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir()
    torch.save({"state_dict": {}, "callbacks": {"TrackerRuns": ids}}, checkpoint)
    assert recorded_runs(tmp_path, str(checkpoint)) == ids
    (tmp_path / RECORD).write_text(json.dumps({"wandb": {"id": "fromfolder"}}), encoding="utf-8")
    assert recorded_runs(tmp_path, str(checkpoint)) == {"wandb": {"id": "fromfolder"}}
    assert recorded_runs(tmp_path / "elsewhere") == {}


@needs_trackers
@pytest.mark.slow
def test_kill_9_then_resume_continues_the_same_tracker_runs(tmp_path, offline_trackers):
    """Issue 16's acceptance: a resnet18 run killed mid-fit, resumed from its last.ckpt alone with more epochs,
    finishes as resnet18 in the same run folder, W&B offline run and MLflow run."""
    quick = ["--trainer.limit_train_batches", "10", "--trainer.limit_val_batches", "2"]
    quick += ["--trainer.limit_test_batches", "2", "--checkpoint.every_n_steps", "5"]
    resnet = ["--model.backbone", "resnet18", "--trainer.max_epochs", "2"]
    process = start_training(tmp_path, *LOGGERS, *resnet, *quick)
    last = tmp_path / "runs" / "default" / "version_0" / "checkpoints" / "last.ckpt"
    wait_for_step_checkpoint(process, last, mid_epoch=True)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    record = json.loads((last.parent.parent / RECORD).read_text(encoding="utf-8"))
    resumed = train(tmp_path, "--ckpt_path", str(last), "--trainer.max_epochs", "4")  # the rest from config.yaml
    assert resumed["run_dir"] == str(last.parent.parent) and resumed["epochs"] == 4
    assert torch.load(resumed["last_checkpoint"], weights_only=True)["hyper_parameters"]["backbone"] == "resnet18"
    assert resumed["trackers"]["wandb"]["id"] == record["wandb"]["id"]
    assert resumed["trackers"]["mlflow"]["run_id"] == record["mlflow"]["run_id"]

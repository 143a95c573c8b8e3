"""Logger configs: CSV/TensorBoard always, W&B offline and MLflow local when installed, exit 2 when missing."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from jsonargparse import Namespace

from litproj.cli.args import prepare
from litproj.errors import UserError
from litproj.tracking.loggers import is_installed, place_loggers
from tests.helpers import QUIET, ROOT, train

LOGGERS = ROOT / "configs" / "logger"
SHORT = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "4", "--trainer.limit_val_batches", "2"]


def logger_config(*names: str) -> list[str]:
    return [arg for name in names for arg in ("--config", str(LOGGERS / f"{name}.yaml"))]


def test_csv_config_adds_metrics_csv_next_to_tensorboard(tmp_path):
    results = train(tmp_path, *logger_config("csv"), *SHORT)
    run_dir = Path(results["run_dir"])
    assert results["experiment"] == "default"  # a logger config does not name the experiment
    assert Path(results["trackers"]["csv"]) == run_dir / "metrics.csv"
    assert Path(results["trackers"]["tensorboard"]) == run_dir
    assert list(run_dir.glob("events.out.tfevents.*"))
    rows = list(csv.DictReader((run_dir / "metrics.csv").open(encoding="utf-8")))
    logged_test_acc = [float(row["test/acc"]) for row in rows if row.get("test/acc")]
    assert logged_test_acc == [pytest.approx(results["metrics"]["test/acc"])]
    assert any(row.get("val/acc") for row in rows)


def test_logger_configs_combine_and_keep_one_logger_per_class():
    default = Namespace(class_path="pytorch_lightning.loggers.TensorBoardLogger", init_args=Namespace(log_graph=False))
    again = Namespace(class_path="pytorch_lightning.loggers.TensorBoardLogger", init_args=Namespace(log_graph=True))
    extra = Namespace(class_path="pytorch_lightning.loggers.CSVLogger", init_args=Namespace(save_dir="elsewhere"))
    placed = place_loggers([default, extra, again], Path("runs/exp/version_3"))
    assert [p.class_path.rsplit(".", 1)[-1] for p in placed] == ["TensorBoardLogger", "CSVLogger"]
    assert placed[0].init_args.log_graph is True  # the later config's settings win
    assert {p.init_args.save_dir for p in placed} == {str(Path("runs/exp/version_3"))}


def test_tracker_runs_are_grouped_by_experiment_or_by_search(monkeypatch):
    def trackers():
        return [
            Namespace(class_path="pytorch_lightning.loggers.WandbLogger", init_args=Namespace(project="p")),
            Namespace(class_path="pytorch_lightning.loggers.MLFlowLogger", init_args=Namespace(tracking_uri=None)),
        ]

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setattr("litproj.tracking.loggers.is_installed", lambda module: True)  # grouping needs no package
    wandb, mlflow = place_loggers(trackers(), Path("runs/exp/version_3"), "exp")
    assert (wandb.init_args.group, wandb.init_args.name) == ("exp", "exp/version_3")
    assert (mlflow.init_args.experiment_name, mlflow.init_args.run_name) == ("exp", "version_3")
    assert mlflow.init_args.tracking_uri == Path("runs/exp/version_3/mlruns").resolve().as_uri()

    # A config saved by an earlier run (reused by `test --ckpt_path`) names the new run after its own folder.
    again = place_loggers([wandb, mlflow], Path("runs/exp/version_5"), "exp")
    assert [again[0].init_args.name, again[1].init_args.run_name] == ["exp/version_5", "version_5"]
    assert again[1].init_args.tracking_uri == Path("runs/exp/version_5/mlruns").resolve().as_uri()

    monkeypatch.setattr("litproj.tracking.loggers._tune_trial", lambda: ("search_1", "trial_00002"))
    wandb, mlflow = place_loggers(trackers(), Path("runs/tune/x/trial/version_0"), "trial")
    assert (wandb.init_args.group, wandb.init_args.name) == ("search_1", "search_1/trial_00002")
    assert (mlflow.init_args.experiment_name, mlflow.init_args.run_name) == ("search_1", "trial_00002")

    server = Namespace(
        class_path="pytorch_lightning.loggers.MLFlowLogger", init_args=Namespace(tracking_uri="http://h")
    )
    assert place_loggers(server, Path("runs/exp/version_4")).init_args.tracking_uri == "http://h"


def test_experiment_is_named_by_the_last_config_that_is_not_a_logger():
    args = ["--config", "configs/experiment/digits_cnn.yaml", *logger_config("csv", "tensorboard")]
    assert prepare(args).experiment == "digits_cnn"


def test_missing_tracker_package_exits_2_with_install_command(tmp_path):
    # A fresh process in which importing wandb fails, as where it is not installed (in-process, the parser
    # would remember WandbLogger's signature without wandb for the rest of the session).
    code = "import sys; sys.modules['wandb'] = None; from litproj.cli.runner import main; main(sys.argv[1:])"
    args = ["--runs_dir", str(tmp_path / "runs"), *QUIET, *logger_config("wandb")]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "error: trainer.logger: WandbLogger needs the 'wandb' package, which is not installed. "
        'Install it with: pip install -e ".[wandb]"\n'
    )


def test_missing_mlflow_names_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    mlflow = Namespace(class_path="pytorch_lightning.loggers.MLFlowLogger", init_args=Namespace())
    with pytest.raises(
        UserError,
        match=re.escape(
            "MLFlowLogger needs the 'mlflow' package, which is not installed. "
            'Install it with: pip install -e ".[mlflow]"'
        ),
    ):
        place_loggers([mlflow], Path("runs/exp/version_0"))


@pytest.mark.skipif(not is_installed("wandb"), reason='needs pip install -e ".[wandb]"')
def test_wandb_runs_offline_one_run_per_build(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    first = train(tmp_path, *logger_config("wandb"), *SHORT, "--name", "exp")
    second = train(tmp_path, *logger_config("wandb"), *SHORT, "--name", "exp", "--trainer.max_epochs", "2")
    assert os.environ["WANDB_MODE"] == "offline"
    runs = [first["trackers"]["wandb"], second["trackers"]["wandb"]]
    assert runs[0]["id"] != runs[1]["id"]  # a second build in the same process starts a new W&B run
    for results, run in zip((first, second), runs, strict=True):
        run_folder = Path(run["dir"])
        assert run_folder.parent == Path(results["run_dir"]) / "wandb"
        assert run_folder.name.startswith("offline-run-")
        assert list(run_folder.glob("*.wandb"))
        assert run["group"] == "exp"
    assert sys.modules["wandb"].run is None  # closed before the summary, not at exit after the results line


@pytest.mark.skipif(not is_installed("mlflow"), reason='needs pip install -e ".[mlflow]"')
def test_mlflow_logs_to_a_local_store_in_the_run_folder(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)

    results = train(tmp_path, *logger_config("mlflow"), *SHORT, "--name", "exp")
    tracked = results["trackers"]["mlflow"]
    assert tracked["tracking_uri"] == (Path(results["run_dir"]) / "mlruns").resolve().as_uri()
    run = MlflowClient(tracked["tracking_uri"]).get_run(tracked["run_id"])
    assert run.info.run_name == Path(results["run_dir"]).name
    assert MlflowClient(tracked["tracking_uri"]).get_experiment(run.info.experiment_id).name == "exp"
    assert run.data.metrics["test/acc"] == pytest.approx(results["metrics"]["test/acc"])
    assert run.data.params["backbone"] == "small_cnn"


@pytest.mark.slow
def test_inside_a_ray_tune_trial_runs_are_named_by_search_and_trial(tmp_path):
    ray = pytest.importorskip("ray")
    from ray import tune

    def trial(config):
        from litproj.tracking.loggers import _tune_trial

        search, name = _tune_trial() or ("", "")
        tune.report({"search": search, "trial": name})

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        run_config = tune.RunConfig(name="my_search", storage_path=str(tmp_path), verbose=0)
        result = tune.Tuner(trial, run_config=run_config).fit()[0]
    finally:
        ray.shutdown()
    assert result.metrics["search"] == "my_search"
    assert result.metrics["trial"].startswith("trial_")

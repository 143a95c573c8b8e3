"""tune.py on a user's own LightningModule and DataModule (tests/byo): its init args, its metric names.

``VectorClassifier`` logs ``val_loss``/``val_acc``, not litproj's ``val/acc``: the search must optimise a
metric the module logs, or refuse in one line naming what it does log.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from litproj.errors import UserError
from litproj.tune.metric import choose_metric
from litproj.tune.runner import run as tune
from tests.helpers import ROOT, train

ray = pytest.importorskip("ray")

BYO = ["--model", "tests.byo.models.VectorClassifier", "--data", "tests.byo.data.DigitsVectors"]
SPACE = "model.hidden: {choice: [8, 16]}\nmodel.lr: {loguniform: [3.0e-3, 3.0e-2]}\n"
LOGGED = "(logged: train_loss, val_acc, val_loss)"


def space(tmp_path: Path) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(SPACE, encoding="utf-8")
    return str(path)


def search(tmp_path: Path, *args: str, limit: int = 300, epochs: int = 2) -> dict:
    train_args = [*BYO, "--data.limit", str(limit), "--trainer.max_epochs", str(epochs)]
    return tune([*args, "--space", space(tmp_path), *train_args, "--runs_dir", str(tmp_path / "runs")])


def test_search_over_a_user_modules_init_args_and_train_its_best_config(tmp_path, ray_session, capsys):
    result = search(tmp_path, "--num_samples", "2", "--scheduler", "fifo")
    # The module logs no val/acc: the search falls back to its logged validation loss, as train.py does.
    assert (result["metric"], result["mode"]) == ("val_loss", "min")
    assert "note: the model does not log val/acc; the search optimises val_loss (min)" in capsys.readouterr().err
    trials = json.loads((Path(result["search_dir"]) / "search.json").read_text(encoding="utf-8"))["trials"]
    assert len(trials) == 2
    assert all(t["status"] == "TERMINATED" and t["epochs"] == 2 and t["best"] is not None for t in trials)
    best = yaml.safe_load(Path(result["best_config"]).read_text(encoding="utf-8"))
    assert best["model"]["class_path"] == "tests.byo.models.VectorClassifier"
    assert best["data"]["class_path"] == "tests.byo.data.DigitsVectors"
    assert best["model"]["init_args"] == {
        "hidden": result["best_values"]["model.hidden"],
        "lr": pytest.approx(result["best_values"]["model.lr"]),
    }
    assert best["model"]["init_args"]["hidden"] in (8, 16)
    assert best["checkpoint"]["monitor"] == "val_loss" and best["checkpoint"]["mode"] == "min"
    assert "litproj.module" not in Path(result["best_config"]).read_text(encoding="utf-8")
    rerun = train(tmp_path / "again", "fit", "--config", result["best_config"])
    assert rerun["metrics"]["val_loss"] == pytest.approx(
        next(t for t in trials if t["trial_id"] == result["best_trial"])["last"], abs=0.05
    )
    hparams = yaml.safe_load((Path(rerun["run_dir"]) / "config.yaml").read_text(encoding="utf-8"))["model"]
    assert hparams == {"class_path": "tests.byo.models.VectorClassifier", "init_args": best["model"]["init_args"]}


def test_metric_the_module_never_logs_fails_in_one_line_before_ray_starts(tmp_path):
    command = [sys.executable, str(ROOT / "tune.py"), "--metric", "val/acc", "--space", space(tmp_path), *BYO]
    command += ["--data.limit", "100", "--trainer.max_epochs", "1", "--runs_dir", str(tmp_path / "runs")]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: --metric val/acc: the model never logs it {LOGGED}. "
        "Pass tune.py --metric NAME --mode min|max, or log it with self.log in validation_step."
    ]
    assert not (tmp_path / "runs").exists()  # refused before Ray started or a search folder was made


@pytest.mark.slow  # about a minute on 2 cores: a trial process pays torch's and Lightning's imports
def test_first_trial_without_the_metric_ends_the_search_in_one_line(tmp_path, ray_session, monkeypatch):
    """Where the dry run cannot tell (data only on the workers, say), the first failing trial ends the search."""
    monkeypatch.setattr("litproj.tune.plan.logged_metrics", lambda *args: None)
    with pytest.raises(UserError) as err:
        search(tmp_path, "--metric", "val/acc", "--num_samples", "3", "--max_concurrent", "1", limit=100, epochs=1)
    message = str(err.value)
    assert message.startswith(f"--metric val/acc: the model never logs it {LOGGED}. Pass tune.py --metric NAME")
    assert "\n" not in message
    trials = list(Path(message.rsplit("search folder ", 1)[1].rstrip(")")).glob("*/version_*"))
    assert len(trials) < 3  # neither every trial nor its retries ran


@pytest.mark.parametrize(
    ("metric", "mode", "logged", "chosen"),
    [
        (None, None, {"val/acc", "val/loss"}, ("val/acc", "max")),  # the checkpoint's monitor and mode
        (None, None, {"val_acc", "val_loss"}, ("val_loss", "min")),  # litproj's default falls back to a loss
        (None, None, None, ("val/acc", "max")),  # no dry run: the trials check it
        ("val_acc", None, {"val_acc", "val_loss"}, ("val_acc", "max")),
        ("val/rmse", "min", {"val/rmse"}, ("val/rmse", "min")),
    ],
)
def test_metric_and_mode_of_a_search(metric, mode, logged, chosen):
    checkpoint = SimpleNamespace(monitor="val/acc", mode="max")
    assert choose_metric(metric, mode, checkpoint, "val/acc", logged) == chosen


def test_unclear_mode_and_a_monitor_the_user_chose_are_not_guessed():
    with pytest.raises(UserError, match=r"^--metric val/rmse: add --mode min or --mode max"):
        choose_metric("val/rmse", None, SimpleNamespace(monitor="val/acc", mode="max"), "val/acc", {"val/rmse"})
    with pytest.raises(UserError, match=r"^--metric val/f1: the model never logs it \(logged: val_loss\)"):
        choose_metric(None, None, SimpleNamespace(monitor="val/f1", mode="max"), "val/acc", {"val_loss"})

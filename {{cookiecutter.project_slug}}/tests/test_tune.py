"""tune.py without Ray running: one-line errors for bad input, the Tune callback, and train.py staying Ray-free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pytorch_lightning import Callback

from {{ cookiecutter.package_name }}.cli.runner import run as train
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.tune.callback import CHECKPOINT_FILE, TuneReportCallback
from {{ cookiecutter.package_name }}.tune.options import parse
from {{ cookiecutter.package_name }}.tune.runner import run as tune
from tests.helpers import QUIET, ROOT

TINY = ["--trainer.max_epochs", "2", "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2"]


def fit(tmp_path: Path, *args: str, callbacks: list) -> dict:
    """``python train.py fit ARGS`` in-process with extra callbacks, as a trial runs it."""
    return train(["fit", "--runs_dir", str(tmp_path / "runs"), *QUIET, *args], {"callbacks": callbacks})


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--search", "nonsense"], "--search: unknown searcher 'nonsense'. Choose one of: grid, random, optuna"),
        (["--search", "optna"], "Did you mean 'optuna'?"),
        (["--scheduler", "ashaa"], "--scheduler: unknown scheduler 'ashaa'. Did you mean 'asha'?"),
        (["--search", "optuna", "--scheduler", "pbt"], "--scheduler pbt explores by itself: use --search random"),
        (["--search", "bohb", "--scheduler", "asha"], "--search bohb brings its own HyperBand"),
        (["--num-samples", "3"], "unknown option --num-samples. Did you mean '--num_samples'?"),
        (["--num_samples", "0"], "tune.py: "),
        (["--trial_resources", "cpu:1"], "--trial_resources: expected KEY=NUMBER pairs such as cpu=1,gpu=0.5"),
        (["--ckpt_path", "last"], "--ckpt_path: trials start from scratch"),
        (["--trainer.max_epochs", "-1"], "--trainer.max_epochs: a search needs a fixed number of epochs"),
        (["--trainer.max_epoks", "3"], "unknown option --trainer.max_epoks"),
        (["--resume", "nowhere"], "--resume: 'nowhere' is not a search folder"),
        (["--space", "missing.yaml"], "--space: file 'missing.yaml' does not exist"),
    ],
)
def test_bad_command_line_is_one_error(args, message):
    with pytest.raises(UserError) as err:
        tune(args)
    assert message in str(err.value)


def test_model_and_data_classes_are_train_args_not_misspelled_tune_flags():
    options = parse(["--model", "my.Module", "--mode", "min", "--data=my.Data", "--metric", "val_loss"])
    assert options.train_args == ["--model", "my.Module", "--data=my.Data"]
    assert (options.metric, options.mode) == ("val_loss", "min")


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("model.lr: {loguniform: [1e-4, 1e-1]\n", "not valid YAML at line"),
        ("- model.lr\n", "expected a mapping of train.py keys to distributions"),
        ("model.lrr: {loguniform: [1.0e-4, 1.0e-1]}\n", "unknown option --model.lrr of {{ cookiecutter.package_name }}.module.ImageClassifier"),
        ("model.lr: {logunifrom: [1.0e-4, 1.0e-1]}\n", "unknown distribution 'logunifrom'. Did you mean 'loguniform'?"),
        ("model.lr: {loguniform: [0, 1.0e-1]}\n", "loguniform needs a positive lower bound, got 0"),
        ("model.lr: {uniform: [0.1]}\n", "uniform takes a list of 2 numbers"),
        ("model.lr: {choice: []}\n", "choice takes a non-empty list of values"),
        ("data.batch_size: {choice: [32, big]}\n", "--data.batch_size"),
    ],
)
def test_bad_space_file_is_one_error(tmp_path, space, message):
    with pytest.raises(UserError) as err:
        tune(["--space", write(tmp_path, space)])
    assert message in str(err.value)
    assert "--space" in str(err.value)


def test_grid_rejects_continuous_distributions(tmp_path):
    with pytest.raises(UserError, match=r"model.lr is loguniform, which a grid cannot enumerate"):
        tune(["--search", "grid", "--space", str(ROOT / "configs/tune/random.yaml")])


def test_bohb_without_its_packages_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "hpbandster", None)  # what an environment without the extra sees
    with pytest.raises(UserError) as err:
        tune(["--search", "bohb"])
    install = "pip install '{{ cookiecutter.package_name }}[bohb]'  (or: pip install hpbandster ConfigSpace)"
    assert str(err.value) == f"--search bohb needs the 'hpbandster' package: {install}"


def test_command_line_error_exits_2_with_one_line_and_no_ray(tmp_path):
    space = write(tmp_path, "model.lr: {loguniform: [1.0e-4, oops]}\n")
    done = subprocess.run(
        [sys.executable, str(ROOT / "tune.py"), "--search", "nonsense", "--space", space],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --search: unknown searcher 'nonsense'. Choose one of: grid, random, optuna, hyperopt, bohb."
    ]
    assert not (tmp_path / "runs").exists()


def test_train_py_never_imports_ray(tmp_path):
    code = (
        "import sys; from {{ cookiecutter.package_name }}.cli.runner import run; "
        f"run(['fit', '--runs_dir', {str(tmp_path)!r}, *{TINY!r}, '--trainer.enable_progress_bar', 'false']); "
        "print('ray' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


class _Reports:
    """Stands in for ``ray.tune.report``: records metrics and the checkpoint file's weights."""

    def __init__(self):
        self.metrics: list[dict] = []
        self.checkpoints: list[dict] = []

    def __call__(self, metrics, checkpoint=None):
        self.metrics.append(metrics)
        with checkpoint.as_directory() as folder:
            self.checkpoints.append(torch.load(Path(folder) / CHECKPOINT_FILE, weights_only=True))


def test_callback_reports_every_validation_with_a_checkpoint_and_skips_sanity_check(tmp_path):
    reports = _Reports()
    callback = TuneReportCallback("val/acc", params={"model.lr": 0.01}, report=reports)
    results = fit(tmp_path, *TINY, "--model.lr", "0.01", callbacks=[callback])
    assert [m["epoch"] for m in reports.metrics] == [1, 2]  # no report for the sanity check
    assert reports.metrics[-1]["val/acc"] == pytest.approx(results["metrics"]["val/acc"])
    assert reports.metrics[-1]["run_dir"] == results["run_dir"]
    assert [c["epoch"] for c in reports.checkpoints] == [0, 1]
    assert reports.checkpoints[-1]["state_dict"]


def test_callback_names_logged_metrics_when_monitored_one_is_missing(tmp_path):
    callback = TuneReportCallback("val/accuracy", report=_Reports())
    with pytest.raises(UserError) as err:
        fit(tmp_path, *TINY, callbacks=[callback])
    message = str(err.value)
    assert message.startswith("--metric val/accuracy: the model never logs it (logged: ")
    assert "val/acc, val/f1, val/loss" in message


class _LearningRates(Callback):
    def __init__(self):
        self.initial: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module):
        self.initial.append(trainer.optimizers[0].param_groups[0]["initial_lr"])


def test_restored_trial_trains_with_its_own_learning_rate(tmp_path):
    """PBT restarts a trial from another's checkpoint with a new lr; the new lr must be the one used."""
    first = fit(tmp_path, *TINY, "--model.lr", "0.01", callbacks=[])
    probe = _LearningRates()
    callback = TuneReportCallback("val/acc", report=_Reports())
    longer = [*TINY, "--trainer.max_epochs", "3", "--model.lr", "0.001", "--ckpt_path", first["last_checkpoint"]]
    fit(tmp_path, *longer, callbacks=[callback, probe])
    assert probe.initial == [pytest.approx(0.001)]

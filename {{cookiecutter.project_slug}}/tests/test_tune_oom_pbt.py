"""Trials that run out of memory, PBT's exploits reaching the optimizer, and coarse-to-fine (``--around``).

An out-of-memory trial must not end a search: it recovers (smaller batch, same effective batch) or fails
alone, named in the results. A trial that PBT restarts from a better trial's checkpoint must train with its
own, perturbed optimizer settings, not the donor's saved ones. A finer search narrows a finished one's space.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from pytorch_lightning import Callback, LightningModule
from torch import nn

from {{ cookiecutter.package_name }}.cli.runner import run as train
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.tune.callback import CHECKPOINT_FILE, TuneReportCallback
from {{ cookiecutter.package_name }}.tune.runner import main as tune_main
from {{ cookiecutter.package_name }}.tune.runner import run as tune
from {{ cookiecutter.package_name }}.tune.space import around
from tests.helpers import QUIET

ray = pytest.importorskip("ray")

TINY = ["--trainer.max_epochs", "2", "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2"]
#: Batches of 64 do not fit (--simulate_oom_above 32); each batch size once with OOM recovery and once without.
OOM_SPACE = "data.batch_size: {grid: [16, 64]}\noom_recovery: {grid: [true, false]}\n"


@pytest.mark.slow  # four trials: 40-80 s on 2 cores
def test_out_of_memory_trials_recover_or_fail_alone_and_the_search_ends_with_a_best_config(
    tmp_path, ray_session, capsys
):
    space = tmp_path / "space.yaml"
    space.write_text(OOM_SPACE, encoding="utf-8")
    search = ["--search", "grid", "--scheduler", "fifo", "--space", str(space), "--max_failures", "0"]
    tune_main([*search, "--simulate_oom_above", "32", *TINY, "--runs_dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith("best config: ")
    best_yaml = Path(last.removeprefix("best config: "))
    assert best_yaml.is_file()
    summary = json.loads((best_yaml.parent / "search.json").read_text(encoding="utf-8"))
    rows = {(t["values"]["data.batch_size"], t["values"]["oom_recovery"]): t for t in summary["trials"]}
    assert summary["states"] == {"finished": 3, "failed": 1}
    # Without recovery the batch that does not fit fails its trial alone, named in the results table.
    failed = rows[(64, False)]
    assert failed["status"] == "ERROR"
    assert "CUDA out of memory" in failed["error"] and "a batch of 64 samples" in failed["error"]
    assert "failed: torch.OutOfMemoryError: CUDA out of memory" in out
    # With recovery it trains on half batches with twice the accumulation (same effective batch) and reports.
    recovered = rows[(64, True)]
    assert recovered["status"] == "TERMINATED" and recovered["epochs"] == 2 and recovered["best"] is not None
    run = json.loads((Path(recovered["run_dir"]) / "results.json").read_text(encoding="utf-8"))["oom_recovery"]
    assert (run["final_batch_size"], run["final_accumulate_grad_batches"], run["final_effective_batch_size"]) == (
        32,
        2,
        64,
    )
    assert recovered["note"] == "out of memory, 1 retry: batch 64 → 32, accumulation 1 → 2"
    assert rows[(16, True)]["note"] is None and rows[(16, False)]["status"] == "TERMINATED"
    assert summary["best_trial"] != failed["trial_id"]


class NamedLearningRate(LightningModule):
    """A user's module (no {{ cookiecutter.package_name }}, no save_hyperparameters) that calls its rate ``learning_rate``, with
    SGD momentum and a step schedule: the settings PBT perturbs live only in what configure_optimizers builds."""

    def __init__(self, learning_rate: float = 0.05, momentum: float = 0.5):
        super().__init__()
        self.learning_rate, self.momentum = learning_rate, momentum
        self.net = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        return F.cross_entropy(self(batch[0]), batch[1])

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", F.cross_entropy(self(batch[0]), batch[1]))

    def configure_optimizers(self):
        sgd = torch.optim.SGD(self.parameters(), lr=self.learning_rate, momentum=self.momentum, weight_decay=1e-4)
        return {"optimizer": sgd, "lr_scheduler": torch.optim.lr_scheduler.StepLR(sgd, step_size=1, gamma=0.5)}


class DonorCheckpoint:
    """Stands in for ``ray.tune.report``: keeps the last checkpoint a trial reported, as PBT hands it on."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, metrics, checkpoint=None):
        with checkpoint.as_directory() as folder:
            shutil.copy(Path(folder) / CHECKPOINT_FILE, self.path)


class OptimizerAtStart(Callback):
    """What the optimizer holds when training (re)starts: settings, scheduler base, whether state was restored."""

    def on_train_start(self, trainer, pl_module):
        optimizer = trainer.optimizers[0]
        self.group = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
        self.base_lrs = (
            list(getattr(trainer.lr_scheduler_configs[0].scheduler, "base_lrs", []))
            if trainer.lr_scheduler_configs
            else []
        )
        self.restored_state = bool(optimizer.state)


BYO = ["--model", "tests.byo.models.VectorClassifier", "--data", "tests.byo.data.DigitsVectors", "--data.limit", "200"]
NAMED = ["--model", f"{__name__}.NamedLearningRate", "--data", "tests.byo.data.DigitsVectors", "--data.limit", "200"]
ONE_EPOCH = ["--trainer.max_epochs", "1", "--trainer.limit_val_batches", "1"]


def trial(tmp_path: Path, name: str, *args: str, callbacks: list) -> dict:
    """One trial's ``train.py fit`` in-process, with the callbacks a trial runs with."""
    where = ["--runs_dir", str(tmp_path / "runs"), "--name", name, "--checkpoint.monitor", "val_loss"]
    return train(["fit", *where, *QUIET, *args], {"callbacks": callbacks})


def exploit(tmp_path: Path, model: list[str], donor: list[str], mutated: list[str]) -> tuple[OptimizerAtStart, dict]:
    """A donor trial reports a checkpoint; another trial restarts from it with ``mutated`` values (PBT's exploit)."""
    donor_ckpt = tmp_path / "donor.ckpt"
    trial(
        tmp_path,
        "donor",
        *model,
        *ONE_EPOCH,
        *donor,
        callbacks=[TuneReportCallback("val_loss", report=DonorCheckpoint(donor_ckpt))],
    )
    probe = OptimizerAtStart()
    callback = TuneReportCallback("val_loss", report=DonorCheckpoint(tmp_path / "after.ckpt"))
    resumed = [
        *model,
        *mutated,
        "--trainer.max_epochs",
        "2",
        "--trainer.limit_val_batches",
        "1",
        "--ckpt_path",
        str(donor_ckpt),
    ]
    results = trial(tmp_path, "exploiter", *resumed, callbacks=[callback, probe])
    return probe, results


def test_exploited_trial_trains_with_its_mutated_learning_rate_not_the_donors(tmp_path):
    probe, results = exploit(tmp_path, BYO, ["--model.lr", "0.01"], ["--model.lr", "0.0025"])
    assert probe.restored_state  # Adam's moments came from the donor's checkpoint ...
    assert probe.group["lr"] == pytest.approx(0.0025)  # ... its learning rate did not
    assert "opt0.group0.lr 0.01 → 0.0025" in results["restored_optimizer"]["summary"]


def test_mutations_reach_a_user_modules_optimizer_and_schedule_whatever_their_names(tmp_path):
    probe, _ = exploit(
        tmp_path,
        NAMED,
        ["--model.learning_rate", "0.08", "--model.momentum", "0.5"],
        ["--model.learning_rate", "0.02", "--model.momentum", "0.9"],
    )
    assert probe.restored_state
    # One epoch of StepLR(gamma=0.5) ran on the donor: the schedule keeps its place, from the new base.
    assert probe.group["lr"] == pytest.approx(0.02 * 0.5)
    assert probe.group["initial_lr"] == pytest.approx(0.02)
    assert probe.base_lrs == [pytest.approx(0.02)]
    assert probe.group["momentum"] == pytest.approx(0.9)
    assert probe.group["weight_decay"] == pytest.approx(1e-4)  # not perturbed: as saved


class HalveLearningRate(Callback):
    """Changes the learning rate during training, as ReduceLROnPlateau does (no ``initial_lr`` records it)."""

    def on_train_epoch_end(self, trainer, pl_module):
        for group in trainer.optimizers[0].param_groups:
            group["lr"] /= 2


def test_plain_resume_with_the_same_values_keeps_the_restored_optimizer(tmp_path):
    """A retried or resumed trial (same values) continues with the optimizer exactly as it was saved."""
    first = trial(
        tmp_path,
        "first",
        *BYO,
        *ONE_EPOCH,
        "--model.lr",
        "0.01",
        callbacks=[TuneReportCallback("val_loss", report=DonorCheckpoint(tmp_path / "a.ckpt")), HalveLearningRate()],
    )
    probe = OptimizerAtStart()
    again = [
        *BYO,
        "--model.lr",
        "0.01",
        "--trainer.max_epochs",
        "2",
        "--trainer.limit_val_batches",
        "1",
        "--ckpt_path",
        first["last_checkpoint"],
    ]
    results = trial(
        tmp_path,
        "again",
        *again,
        callbacks=[TuneReportCallback("val_loss", report=DonorCheckpoint(tmp_path / "b.ckpt")), probe],
    )
    assert probe.restored_state
    assert probe.group["lr"] == pytest.approx(0.005)
    assert "restored_optimizer" not in results


class EpochBarrier(Callback):
    """Holds each trial at an epoch's start until every trial has validated the epoch before (or ``timeout``).

    Async PBT compares trials that have reported at the same time: two tiny trials that start seconds apart
    would otherwise finish without ever overlapping, and no exploit would happen.
    """

    def __init__(self, folder: str, trials: int = 2, timeout: float = 30.0):
        self.folder, self.trials, self.timeout = Path(folder), trials, timeout

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{trainer.current_epoch}-{Path(trainer.default_root_dir).parent.name}").touch()

    def on_train_epoch_start(self, trainer, pl_module):
        deadline = time.monotonic() + self.timeout
        previous = trainer.current_epoch - 1
        while previous >= 0 and len(list(self.folder.glob(f"{previous}-*"))) < self.trials:
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)


@pytest.mark.slow  # two PBT trials of 6 short epochs that exploit each other: 0.5-2.5 min on 2 cores
def test_pbt_exploit_trains_on_with_the_perturbed_values_in_the_optimizer(tmp_path, ray_session):
    barrier = {"class_path": f"{__name__}.EpochBarrier", "init_args": {"folder": str(tmp_path / "barrier")}}
    search = ["--search", "random", "--scheduler", "pbt", "--num_samples", "2", "--trainer.max_epochs", "6"]
    tiny = ["--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2"]
    tune_main([*search, *tiny, "--trainer.callbacks", json.dumps([barrier]), "--runs_dir", str(tmp_path / "runs")])
    search_dir = tmp_path / "runs" / "tune" / "random_pbt" / "version_0"
    assert json.loads((search_dir / "search.json").read_text(encoding="utf-8"))["exploits"] >= 1
    # Each report names the run (a trial restarted by an exploit is a new train.py run with the perturbed values
    # in its config.yaml) and the checkpoint it saved: the optimizer in that checkpoint holds the run's values.
    checked, perturbed = 0, 0
    for progress in search_dir.glob("*/progress.csv"):
        with progress.open(encoding="utf-8") as rows:
            last_report = {row["checkpoint_dir_name"]: row for row in csv.DictReader(rows)}  # a name is reused
        first = model_values(progress.parent / "version_0")
        for name, report in last_report.items():
            checkpoint = torch.load(progress.parent / name / CHECKPOINT_FILE, weights_only=False)
            group = checkpoint["optimizer_states"][0]["param_groups"][0]
            values = model_values(Path(report["run_dir"]))
            assert group["initial_lr"] == pytest.approx(values["lr"])  # the cosine schedule's base
            assert group["weight_decay"] == pytest.approx(values["weight_decay"])
            checked += 1
            perturbed += values["lr"] != first["lr"]
    assert checked >= 4 and perturbed >= 1


def model_values(run_dir: Path) -> dict:
    return yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))["model"]["init_args"]


def test_finer_space_around_the_best_values_of_a_coarse_search():
    coarse = {
        "model.lr": {"loguniform": [1.0e-4, 1.0e-1]},
        "model.label_smoothing": {"uniform": [0.0, 0.2]},
        "model.hidden": {"randint": [8, 64]},
        "data.batch_size": {"choice": [32, 64, 128]},
        "trainer.gradient_clip_val": 1.0,
    }
    best = {"model.lr": 3.0e-3, "model.label_smoothing": 0.19, "model.hidden": 20, "data.batch_size": 64}
    best["trainer.gradient_clip_val"] = 1.0
    grid = around(coarse, best, grid=True)
    # A quarter of the coarse range (of its logarithm for loguniform) centred on the best value ...
    assert grid["model.lr"] == {"grid": [0.001265, 0.003, 0.007114]}
    assert grid["model.hidden"] == {"grid": [13, 20, 27]}
    # ... shifted inside the coarse bounds near an edge; choices and fixed values stay at the best trial's.
    assert grid["model.label_smoothing"] == {"grid": [0.15, 0.175, 0.2]}
    assert (grid["data.batch_size"], grid["trainer.gradient_clip_val"]) == (64, 1.0)
    ranges = around(coarse, best, grid=False)
    assert ranges["model.lr"] == {"loguniform": [0.001265, 0.007114]}
    assert ranges["model.hidden"] == {"randint": [13, 27]}


def test_around_needs_the_best_yaml_of_a_finished_search(tmp_path):
    stray = tmp_path / "best.yaml"
    stray.write_text("model: {}\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"^--around: '.*best.yaml' is not the best.yaml of a finished search"):
        tune(["--around", str(stray), "--search", "grid"])

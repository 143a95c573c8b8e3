"""``python train.py cv --data.folds N``: one training per stratified fold, every fold's score and their mean ± std
in results.json and on screen, out-of-fold predictions covering every sample once, folds fixed by the data's seed,
``--data.fold K`` for one fold, and one line (exit 2) for a DataModule without folds or a wrong number."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from pytorch_lightning import LightningDataModule
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold
from torch.utils.data import DataLoader, Subset, TensorDataset

from {{ cookiecutter.package_name }}.cli.oof import HeldOut, OutOfFold, predict_held_out
from {{ cookiecutter.package_name }}.cli.runner import main, run
from {{ cookiecutter.package_name }}.data import DigitsDataModule, SyntheticDataModule
from {{ cookiecutter.package_name }}.data.balance import labels_of
from tests.byo.data import DictDataset
from tests.byo.models import VectorClassifier
from tests.helpers import QUIET, train

TINY = [
    "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2",
    "--trainer.num_sanity_val_steps", "0", "--trainer.logger", "false",
]  # fmt: skip
BYO = ["--model", "tests.byo.models.VectorClassifier", "--data.limit", "200"]


def cv(runs: Path, *args: str) -> dict:
    return run(["cv", "--runs_dir", str(runs), *QUIET, *TINY, *args])


def folds_of(folds: int, seed: int = 42) -> list[DigitsDataModule]:
    """The digits DataModule of each fold, set up (no training)."""
    modules = []
    for fold in range(folds):
        data = DigitsDataModule(folds=folds, fold=fold, seed=seed)
        data.setup("fit")
        modules.append(data)
    return modules


@pytest.fixture(scope="module")
def five_folds(tmp_path_factory) -> tuple[dict, str]:
    """One tiny 5-fold cv on digits: its results and what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        results = cv(tmp_path_factory.mktemp("cv") / "runs", "--data.folds", "5")
    return results, printed.getvalue()


def test_cv_prints_each_fold_and_their_mean_and_std(five_folds):
    results, out = five_folds
    lines = out.strip().splitlines()
    path = Path(results["run_dir"]) / "results.json"
    assert lines[-1] == f"results: {path}"
    assert [line.split(":")[0] for line in lines if line.startswith("fold ")] == [f"fold {k} of 5" for k in range(5)]
    row = next(line for line in lines if "mean ± std" in line)
    acc = [fold["metrics"]["val/acc"] for fold in results["per_fold"]]
    assert f"{np.mean(acc):.4f} ± {np.std(acc):.4f}" in row
    for k in range(5):  # each fold's row shows its own score
        cells = [[cell.strip() for cell in line.split("│")[1:3]] for line in lines if "│" in line]
        assert [str(k), f"{acc[k]:.4f}"] in cells, out


def test_results_json_holds_each_fold_and_mean_and_std(five_folds):
    results, _ = five_folds
    saved = json.loads((Path(results["run_dir"]) / "results.json").read_text(encoding="utf-8"))
    assert saved["stage"] == "cv" and saved["folds"] == 5
    assert [fold["fold"] for fold in saved["per_fold"]] == [0, 1, 2, 3, 4]
    for key in ("val/acc", "val/loss"):
        values = [fold["metrics"][key] for fold in saved["per_fold"]]
        assert saved["mean"][key] == pytest.approx(np.mean(values))
        assert saved["std"][key] == pytest.approx(np.std(values))
    for k, fold in enumerate(saved["per_fold"]):  # a complete run folder per fold, trained on its own split
        folder = Path(fold["run_dir"])
        assert folder == Path(saved["run_dir"]) / f"fold_{k}"
        assert Path(fold["best_checkpoint"]).is_file() and Path(fold["best_checkpoint"]).parent.parent == folder
        own = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        assert own["metrics"]["val/acc"] == fold["metrics"]["val/acc"]
        config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
        assert (config["data"]["init_args"]["folds"], config["data"]["init_args"]["fold"]) == (5, k)


def test_out_of_fold_predictions_cover_every_sample_once(five_folds):
    results, _ = five_folds
    path = Path(results["oof_predictions"])
    assert path.parent == Path(results["run_dir"])
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    modules = folds_of(5)
    pool = len(modules[0].train_set) + len(modules[0].val_set)
    assert sorted(int(r["index"]) for r in rows) == list(range(pool))  # every train+val sample exactly once
    held_by = {i: k for k, data in enumerate(modules) for i in data.val_set.indices}
    pool_labels = modules[0].val_set.dataset.tensors[1]  # the pooled samples' labels, in pool order
    for row in rows:
        index = int(row["index"])
        assert int(row["fold"]) == held_by[index]  # predicted by the fold that never trained on it
        assert int(row["label"]) == int(pool_labels[index])
        probs = [float(row[f"prob_{d}"]) for d in range(10)]
        assert int(row["prediction"]) == int(np.argmax(probs)) and sum(probs) == pytest.approx(1, abs=1e-4)
    right = sum(r["label"] == r["prediction"] for r in rows) / len(rows)
    assert results["oof_accuracy"] == pytest.approx(right)


def test_folds_partition_the_samples_stratified_and_seeded():
    first, again, other = folds_of(3), folds_of(3), folds_of(3, seed=7)
    usual = DigitsDataModule()
    usual.setup("fit")
    pool = len(usual.train_set) + len(usual.val_set)
    held = [sorted(data.val_set.indices) for data in first]
    assert sorted(i for part in held for i in part) == list(range(pool))  # a partition of train+val
    for data in first:  # the rest of the pool is trained on; the test split is the usual one
        assert sorted(data.train_set.indices + data.val_set.indices) == list(range(pool))
        assert torch.equal(data.test_set.tensors[0], usual.test_set.tensors[0])
    counts = torch.stack([torch.bincount(labels_of(data.val_set), minlength=10) for data in first])
    assert int((counts.max(0).values - counts.min(0).values).max()) <= 1  # stratified: classes spread evenly
    assert held == [sorted(data.val_set.indices) for data in again]
    assert held != [sorted(data.val_set.indices) for data in other]


def test_folds_work_on_every_{{ cookiecutter.package_name }}_datamodule_shape():
    data = SyntheticDataModule(num_samples=60, image_size=4, folds=3, fold=2)
    data.setup("fit")
    assert len(data.train_set) + len(data.val_set) == 60 + 6
    assert data.val_set.dataset.transform is None  # the held-out part is served like the validation split


def test_one_fold_is_a_normal_fit_on_that_split(tmp_path):
    results = train(tmp_path, *TINY, "--data.folds", "3", "--data.fold", "1")  # fit, then test
    counts = json.loads((Path(results["run_dir"]) / "class_counts.json").read_text(encoding="utf-8"))
    fold = folds_of(3)[1]
    for split in ("train", "val", "test"):
        expected = torch.bincount(labels_of(getattr(fold, f"{split}_set")), minlength=10).tolist()
        assert list(counts[split].values()) == expected, split
    assert "test/acc" in results["metrics"] and not (Path(results["run_dir"]) / "oof_predictions.csv").exists()


def test_cv_with_one_fold_trains_only_that_fold(tmp_path):
    results = cv(tmp_path / "runs", "--data.folds", "3", "--data.fold", "1")
    assert [fold["fold"] for fold in results["per_fold"]] == [1]
    assert sorted(p.name for p in Path(results["run_dir"]).glob("fold_*")) == ["fold_1"]
    with Path(results["oof_predictions"]).open(encoding="utf-8", newline="") as file:
        indices = sorted(int(row["index"]) for row in csv.DictReader(file))
    assert indices == sorted(folds_of(3)[1].val_set.indices)


class FoldedVectors(LightningDataModule):
    """A user's DataModule (no {{ cookiecutter.package_name }} import) that took the two arguments cv asks for: digits as 64-value
    vectors, the first ``limit`` of them, 20 % kept for testing, the rest cut into folds."""

    def __init__(self, limit: int = 200, folds: int = 0, fold: int | None = None):
        super().__init__()
        self.limit, self.folds, self.fold = limit, folds, fold

    def setup(self, stage: str) -> None:
        x, y = load_digits(return_X_y=True)
        full = TensorDataset(torch.tensor(x[: self.limit]).float() / 16, torch.tensor(y[: self.limit]))
        pool, test = list(range(self.limit * 4 // 5)), list(range(self.limit * 4 // 5, self.limit))
        cut = StratifiedKFold(self.folds, shuffle=True, random_state=0).split(pool, full.tensors[1][pool])
        kept, held = list(cut)[self.fold]
        self.train_set, self.val_set, self.test_set = (Subset(full, part) for part in (kept, held, test))

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=32, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=32)


def test_cv_runs_a_users_datamodule_that_accepts_folds(tmp_path):
    user = ["--model", "tests.byo.models.VectorClassifier", "--data", "tests.test_cv.FoldedVectors"]
    results = cv(tmp_path / "runs", *user, "--data.folds", "2")
    assert [fold["fold"] for fold in results["per_fold"]] == [0, 1]
    assert set(results["mean"]) == {"val_acc", "val_loss"}
    with Path(results["oof_predictions"]).open(encoding="utf-8", newline="") as file:
        indices = sorted(int(row["index"]) for row in csv.DictReader(file))
    assert indices == list(range(160))  # every sample outside the test part, once


def test_a_datamodule_without_folds_gets_one_line_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["cv", "--runs_dir", str(tmp_path / "runs"), *BYO, "--data", "tests.byo.data.DigitsVectors",
              "--data.folds", "3"])  # fmt: skip
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "error: cv: DigitsVectors has no `folds` and `fold` arguments; cv needs a DataModule that does: derive it "
        "from {{ cookiecutter.package_name }}.data.ClassificationDataModule (make_splits() then gets folds for free), or add "
        "`folds: int = 0, fold: int | None = None` to its __init__ and validate on part `fold` of `folds`."
    ]
    assert "fold 0" not in captured.out and not (tmp_path / "runs").exists()


BAD = {
    "cv without folds": (["cv"], "cv: pass --data.folds N, the number of folds"),
    "fold out of range": (["cv", "--data.folds", "5", "--data.fold", "7"], "--data.fold 7 is out of range for"),
    "one fold": (["cv", "--data.folds", "1"], "--data.folds 1: k-fold needs at least 2 folds"),
    "negative folds": (["cv", "--data.folds", "-3"], "--data.folds -3: k-fold needs at least 2 folds"),
    "not a number": (["cv", "--data.folds", "five"], "--data.folds: expected a whole number (got five)"),
    "cv from a checkpoint": (["cv", "--data.folds", "3", "--ckpt_path", "x.ckpt"], "cv: --ckpt_path does not apply"),
    "fold without folds": (["fit", "--data.fold", "2"], "--data.fold 2 needs --data.folds N"),
    "folds without fold": (["fit", "--data.folds", "3"], "--data.folds 3 needs --data.fold K (0 to 2)"),
    "fit fold out of range": (["fit", "--data.folds", "3", "--data.fold", "3"], "--data.fold 3 is out of range"),
}


@pytest.mark.parametrize("args, expected", BAD.values(), ids=BAD.keys())
def test_bad_fold_input_is_one_line_and_exit_2(args, expected, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([args[0], "--runs_dir", str(tmp_path / "runs"), *QUIET, *args[1:]])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert not any(path.is_file() for path in tmp_path.rglob("*"))  # nothing written, no run folder left


@pytest.mark.parametrize("stage", ["fit", "cv"])
def test_too_many_folds_is_one_line_when_the_data_is_set_up(stage, tmp_path, capsys):
    """Only the loaded labels tell; Lightning has opened the TensorBoard file by then, nothing else is written."""
    fold = ["--data.fold", "0"] if stage == "fit" else []
    with pytest.raises(SystemExit) as exit_info:
        main([stage, "--runs_dir", str(tmp_path / "runs"), *QUIET, "--data.folds", "500", *fold])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --data.folds 500: too many folds for 1528 samples whose largest class has 158; use fewer folds."
    ]
    written = [path.name for path in tmp_path.rglob("*") if path.is_file()]
    assert written and all(name.startswith("events.out.tfevents") for name in written), written


def test_out_of_fold_predictions_are_skipped_for_batches_they_cannot_read(tmp_path, capsys):
    model = VectorClassifier()
    features, labels = torch.rand(8, 64), torch.arange(8) % 10
    tuples = DataLoader(Subset(TensorDataset(features, labels), [5, 1, 7]), batch_size=2)
    held_out = predict_held_out(model, tuples, 2, torch.device("cpu"))
    assert isinstance(held_out, HeldOut) and held_out.index.tolist() == [5, 1, 7] and held_out.fold == 2
    assert held_out.probs.shape == (3, 10) and held_out.label.tolist() == [5, 1, 7]
    gathered = OutOfFold(tmp_path / "oof_predictions.csv")
    gathered.add(held_out)
    assert gathered.report()["oof_predictions"] == str(tmp_path / "oof_predictions.csv")
    dicts = DataLoader(DictDataset(features, labels), batch_size=4)
    note = predict_held_out(model, dicts, 3, torch.device("cpu"))
    assert note == "the validation batches are dicts (x, y)"
    gathered.add(note)  # a later fold that cannot be read: no partial file that looks complete
    assert gathered.report() == {
        "oof_predictions": None,
        "oof_accuracy": None,
        "oof_note": "out-of-fold predictions skipped: the validation batches are dicts (x, y)",
    }
    assert not (tmp_path / "oof_predictions.csv").exists()
    assert capsys.readouterr().err.strip().splitlines() == [f"note: {gathered.note}"]

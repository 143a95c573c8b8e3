"""The troubleshooting kit on modules people bring (tests/byo): it works, or refuses in one line before training."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from pytorch_lightning import LightningDataModule
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.troubleshoot.oom import batch_length, install_simulated_oom
from {{ cookiecutter.package_name }}.troubleshoot.run import _image_hint
from {{ cookiecutter.package_name }}.troubleshoot.shapes import check_shapes
from tests.byo.models import ManualOptimization
from tests.helpers import train

BYO = "tests.byo.models."
VECTORS = ["--data", "tests.byo.data.DigitsVectors", "--data.limit", "300", "--trainer.max_epochs", "1"]
VAL_LOSS = ["--checkpoint.monitor", "val_loss", "--checkpoint.mode", "min"]
EVERY_STEP = ["--leak_detector.every_n_steps", "1", "--leak_detector.warmup_steps", "2"]
EVERY_STEP += ["--memory_monitor.every_n_steps", "1"]


def _saved_config(results: dict) -> dict:
    return yaml.safe_load((Path(results["run_dir"]) / "config.yaml").read_text(encoding="utf-8"))


def _no_run_folder(tmp_path: Path) -> bool:
    return not any((tmp_path / "runs").glob("*/version_*"))


class LeakyManual(ManualOptimization):
    """Manual optimization that keeps every step's loss with its graph (``self.losses.append(loss)``)."""

    def on_train_epoch_start(self) -> None:
        self.losses: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        first, second = self.optimizers()
        loss = F.cross_entropy(self(x), y)
        first.zero_grad()
        second.zero_grad()
        self.manual_backward(loss, retain_graph=True)
        first.step()
        second.step()
        self.losses.append(loss)  # the leak: should be loss.item()


class FixedBatches(LightningDataModule):
    """A DataModule whose loaders hard-code their batch size: nothing for {{ cookiecutter.package_name }} to halve or tune."""

    def __init__(self, limit: int = 300):
        super().__init__()
        self.limit = limit

    def train_dataloader(self) -> DataLoader:
        features, labels = torch.randn(self.limit, 64), torch.randint(0, 10, (self.limit,))
        return DataLoader(TensorDataset(features, labels), batch_size=32)


# OOM recovery


def test_oom_recovery_on_manual_optimization_halves_the_batch_and_says_the_effective_batch_shrank(tmp_path, capsys):
    results = train(
        tmp_path, "fit", "--model", BYO + "ManualOptimization", *VECTORS, *VAL_LOSS, *EVERY_STEP,
        "--simulate_oom_above", "16", "--data.batch_size", "32",
    )  # fmt: skip
    assert "(effective batch 32 -> 16: manual optimization cannot accumulate)" in capsys.readouterr().err
    recovery = results["oom_recovery"]
    assert [(r["batch_size"], r["accumulate_grad_batches"]) for r in recovery["retries"]] == [(16, 1)]
    assert (recovery["final_batch_size"], recovery["final_accumulate_grad_batches"]) == (16, 1)
    assert recovery["effective_batch_changed"] == "effective batch 32 → 16: manual optimization cannot accumulate"
    assert (
        recovery["summary"] == "1 retry: batch 32 → 16; effective batch 32 → 16: manual optimization cannot accumulate"
    )
    assert results["global_step"] == 30  # 240 samples in batches of 16, two optimizer steps per batch
    assert len(results["memory"]["peak_mb_per_epoch"]) == 1  # the memory monitor ran on manual optimization
    saved = _saved_config(results)
    assert saved["data"]["init_args"]["batch_size"] == 16
    assert saved["trainer"]["accumulate_grad_batches"] == 1


def test_oom_recovery_on_dict_batches_doubles_accumulation(tmp_path):
    results = train(
        tmp_path, "fit", "--model", BYO + "DictBatchClassifier", *VECTORS, "--data.dict_batches", "true", *VAL_LOSS,
        *EVERY_STEP, "--simulate_oom_above", "16", "--data.batch_size", "32",
    )  # fmt: skip
    recovery = results["oom_recovery"]
    assert [(r["batch_size"], r["accumulate_grad_batches"]) for r in recovery["retries"]] == [(16, 2)]
    assert recovery["final_effective_batch_size"] == 32 and "effective_batch_changed" not in recovery
    assert results["global_step"] == 8  # 15 batches of 16, one optimizer step per 2 (and one for the last)
    assert "leak_detector" not in results and results["memory"]["peak_mb_per_epoch"]


def test_oom_recovery_refuses_a_datamodule_without_batch_size_before_training(tmp_path):
    with pytest.raises(UserError) as caught:
        train(
            tmp_path, "fit", "--model", BYO + "NoValidation", "--data", "tests.test_byo_troubleshoot.FixedBatches",
            "--checkpoint.monitor", "null", "--oom_recovery", "true",
        )  # fmt: skip
    assert str(caught.value) == (
        "--oom_recovery: FixedBatches has no batch_size attribute to halve; give it an int `batch_size` its "
        "dataloaders read, or pass --oom_recovery false."
    )
    assert _no_run_folder(tmp_path)


def test_simulated_oom_finds_the_batch_in_tensors_tuples_dicts_and_dataclasses():
    @dataclass
    class Batch:
        x: torch.Tensor

    assert batch_length(torch.zeros(5, 3)) == 5
    assert batch_length((torch.zeros(6, 3), torch.zeros(6))) == 6
    assert batch_length({"x": torch.zeros(7, 3), "y": torch.zeros(7)}) == 7
    assert batch_length(Batch(torch.zeros(8, 2))) == 8
    assert batch_length("text") is None

    class DictInput(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(3, 2)

        def forward(self, batch):
            return self.net(batch["x"])

    model = DictInput()
    install_simulated_oom(model, 4)
    model({"x": torch.zeros(4, 3)})
    with pytest.raises(torch.cuda.OutOfMemoryError, match="a batch of 5 samples reached the model"):
        model({"x": torch.zeros(5, 3)})


# Finders


def test_batch_size_finder_on_a_user_datamodule_saves_its_batch_size(tmp_path):
    results = train(
        tmp_path, "fit", "--model", BYO + "VectorClassifier", *VECTORS, *VAL_LOSS,
        "--find_batch_size", "power", "--find_batch_size_max", "64",
    )  # fmt: skip
    assert results["batch_size_finder"]["batch_size"] == 64
    saved = _saved_config(results)
    assert saved["data"]["class_path"] == "tests.byo.data.DigitsVectors"
    assert saved["data"]["init_args"]["batch_size"] == 64
    assert saved["find_batch_size"] is None


def test_lr_finder_on_a_user_module_with_lr_in_hparams(tmp_path, monkeypatch):
    monkeypatch.setattr("{{ cookiecutter.package_name }}.troubleshoot.tuning._LR_STEPS", 30)
    results = train(tmp_path, "fit", "--model", BYO + "VectorClassifier", *VECTORS, *VAL_LOSS, "--find_lr")
    run_dir = Path(results["run_dir"])
    assert (run_dir / "lr_find.png").stat().st_size > 5000
    lr = results["lr_finder"]["lr"]
    assert 1e-6 < lr < 1 and results["lr_finder"]["attribute"] == "lr"
    saved = _saved_config(results)
    assert saved["model"]["init_args"]["lr"] == pytest.approx(lr)
    assert saved["find_lr"] is False


def test_lr_finder_refuses_a_module_without_lr_before_anything_runs(tmp_path):
    with pytest.raises(UserError) as caught:
        train(
            tmp_path, "fit", "--model", BYO + "NoValidation", "--data", "tests.byo.data.TrainOnlyVectors",
            "--data.limit", "300", "--checkpoint.monitor", "null", "--find_lr",
        )  # fmt: skip
    assert str(caught.value) == "--find_lr: NoValidation needs an `lr` or `learning_rate` attribute or hyperparameter."
    assert _no_run_folder(tmp_path)


def test_lr_finder_refuses_manual_optimization(tmp_path):
    with pytest.raises(UserError, match=r"^--find_lr: ManualOptimization optimizes manually"):
        train(tmp_path, "fit", "--model", BYO + "ManualOptimization", *VECTORS, *VAL_LOSS, "--find_lr")
    assert _no_run_folder(tmp_path)


def test_batch_size_finder_refuses_a_datamodule_without_batch_size(tmp_path):
    with pytest.raises(UserError) as caught:
        train(
            tmp_path, "fit", "--model", BYO + "NoValidation", "--data", "tests.test_byo_troubleshoot.FixedBatches",
            "--checkpoint.monitor", "null", "--find_batch_size", "power",
        )  # fmt: skip
    assert str(caught.value) == (
        "--find_batch_size: FixedBatches has no batch_size attribute to tune; give it an int `batch_size` its "
        "dataloaders read."
    )


# Leak detector and memory monitor


def test_leak_detector_names_the_attribute_on_a_manual_optimization_module(tmp_path):
    results = train(
        tmp_path, "fit", "--model", "tests.test_byo_troubleshoot.LeakyManual", *VECTORS, *VAL_LOSS,
        "--leak_detector.every_n_steps", "2",
    )  # fmt: skip
    assert results["leak_detector"]["summary"] == "leak: LeakyManual.losses"


def test_callbacks_run_without_a_validation_loop(tmp_path):
    results = train(
        tmp_path, "fit", "--model", BYO + "NoValidation", "--data", "tests.byo.data.TrainOnlyVectors",
        "--data.limit", "300", "--trainer.max_epochs", "2", "--checkpoint.monitor", "null", *EVERY_STEP,
    )  # fmt: skip
    assert results["global_step"] == 16
    assert len(results["memory"]["peak_mb_per_epoch"]) == 2
    assert "leak_detector" not in results


# Shapes and --summary


def test_summary_lists_the_layers_of_a_module_without_example_input(tmp_path, capsys):
    assert train(tmp_path, "--model", BYO + "VectorClassifier", *VECTORS, *VAL_LOSS, "--summary") == {}
    out = capsys.readouterr().out
    assert "VectorClassifier: layers" in out
    rows = [line.split("│")[1:4] for line in out.splitlines() if line.startswith("│")]
    assert [c.strip() for c in rows[1]] == ["model.0", "Linear", "2,080"]  # 64 x 32 + 32
    assert "no example_input_array" in out
    assert _no_run_folder(tmp_path)


def test_shape_check_skips_modules_without_example_input_and_reads_tuple_examples():
    model = nn.Sequential(nn.Linear(64, 8))
    check_shapes(model)  # nothing to check
    model.example_input_array = (torch.zeros(2, 32),)
    with pytest.raises(UserError, match=r"layer '0' \(Linear\) expects \[\*, 64\] but gets \[2, 32\] from an input of"):
        check_shapes(model)


def test_image_hint_reads_only_what_the_datamodule_has():
    class Plain:
        pass

    class Images:
        image_size, in_channels = (32, 48), 3

    assert _image_hint(Plain()) == ""
    assert _image_hint(Images()) == " (3-channel 32x48 images from Images)"

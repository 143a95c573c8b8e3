"""Data modules read real on-disk formats and stop on bad data with a line naming the culprit."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from litproj.data import DigitsDataModule, ImageFolderDataModule, TorchvisionDataModule
from litproj.data.base import check_labels
from litproj.errors import UserError
from tests.helpers import train, write_cifar10, write_image_folder, write_mnist

FOLDER_ARGS = ["--data", "litproj.data.ImageFolderDataModule", "--data.image_size", "16", "--data.in_channels", "1"]
FOLDER_ARGS += ["--data.augment", "none", "--data.batch_size", "32"]


def test_digits_split_is_deterministic_per_seed():
    a, b = DigitsDataModule(seed=7), DigitsDataModule(seed=7)
    a.setup("fit"), b.setup("fit")
    assert torch.equal(a.train_set.tensors[0], b.train_set.tensors[0])
    sizes = [len(s) for s in (a.train_set, a.val_set, a.test_set)]
    assert sum(sizes) == 1797 and sizes[0] == 1258
    other = DigitsDataModule(seed=8)
    other.setup("fit")
    assert not torch.equal(a.train_set.tensors[1], other.train_set.tensors[1])


def test_labels_out_of_range_are_named():
    with pytest.raises(UserError, match=r"label 12 at index 2 is outside \[0, 10\)"):
        check_labels(torch.tensor([0, 3, 12, 1]), 10, "my data")


def test_image_folder_handles_spaces_nesting_and_upper_case(tmp_path):
    root = write_image_folder(tmp_path / "digits", classes=3, per_class=12)
    data = ImageFolderDataModule(str(root), image_size=16, in_channels=1, augment="none")
    data.setup("fit")
    assert data.class_names == ["digit 0", "digit 1", "digit 2"]
    assert sum(len(s) for s in (data.train_set, data.val_set, data.test_set)) == 36
    x, y = data.train_set[0]
    assert x.shape == (1, 16, 16) and 0 <= y < 3


def test_image_folder_trains_to_accuracy(tmp_path):
    root = write_image_folder(tmp_path / "digits")
    results = train(tmp_path, *FOLDER_ARGS, "--data.data_dir", str(root), "--trainer.max_epochs", "8")
    assert results["metrics"]["test/acc"] >= 0.9


def test_corrupt_image_is_named_then_skipped_on_request(tmp_path):
    root = write_image_folder(tmp_path / "digits", classes=3, per_class=20)
    bad = root / "digit 1" / "broken.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(UserError, match="broken.png") as error:
        train(tmp_path, *FOLDER_ARGS, "--data.data_dir", str(root))
    assert "--data.skip_bad_files true" in str(error.value)
    results = train(
        tmp_path,
        *FOLDER_ARGS,
        "--data.data_dir",
        str(root),
        "--data.skip_bad_files",
        "true",
        "--trainer.max_epochs",
        "1",
    )
    assert results["data"]["skipped_files"] == 1


def test_empty_class_folder_is_named(tmp_path):
    root = write_image_folder(tmp_path / "digits", classes=2, per_class=5)
    (root / "digit 9").mkdir()
    with pytest.raises(UserError, match="digit 9"):
        ImageFolderDataModule(str(root)).setup("fit")


def test_mnist_reads_the_real_on_disk_format(tmp_path):
    write_mnist(tmp_path)
    data = TorchvisionDataModule("MNIST", data_dir=str(tmp_path), augment="none", batch_size=16)
    data.setup("fit")
    x, y = next(iter(data.train_dataloader()))
    assert x.shape == (16, 1, 28, 28) and y.dtype == torch.long
    assert len(data.test_set) == 60 and len(data.train_set) + len(data.val_set) == 200


def test_cifar10_reads_the_real_on_disk_format(tmp_path):
    write_cifar10(tmp_path)
    data = TorchvisionDataModule("CIFAR10", data_dir=str(tmp_path), verify_checksums=False, batch_size=8)
    data.setup("fit")
    x, _ = next(iter(data.train_dataloader()))
    assert x.shape == (8, 3, 32, 32)
    assert len(data.test_set) == 20


def test_missing_torchvision_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(UserError, match="--data.download true"):
        TorchvisionDataModule("FashionMNIST", data_dir=str(tmp_path)).setup("fit")


def test_mnist_training_through_the_cli(tmp_path):
    write_mnist(tmp_path / "data")
    args = ["--config", "configs/data/mnist.yaml", "--data.data_dir", str(tmp_path / "data")]
    results = train(tmp_path, *args, "--data.num_workers", "0", "--trainer.max_epochs", "1")
    assert results["global_step"] == 2  # 180 training images / batch 128


def test_predict_writes_a_csv_per_image(default_run, tmp_path):
    images = write_image_folder(tmp_path / "new", classes=10, per_class=2, size=8)
    results = train(
        tmp_path, "predict", "--ckpt_path", default_run["best_checkpoint"], "--data.predict_dir", str(images)
    )
    with open(results["predictions"], encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 20
    assert {"file", "predicted_class", "probability"} == set(rows[0])
    assert all(Path(r["file"]).is_file() and 0 < float(r["probability"]) <= 1 for r in rows)
    true_digit = [Path(r["file"]).relative_to(images).parts[0].split()[-1] for r in rows]  # "digit 3" -> "3"
    correct = sum(r["predicted_class"] == digit for r, digit in zip(rows, true_digit, strict=True))
    assert correct >= 16

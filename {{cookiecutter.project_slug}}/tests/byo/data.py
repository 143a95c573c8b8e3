"""User-style DataModules (no {{ cookiecutter.package_name }} imports): digits as flat vectors, tuple or dict batches."""

from __future__ import annotations

import torch
from pytorch_lightning import LightningDataModule
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, Dataset, TensorDataset, random_split


class DictDataset(Dataset):
    """Samples as ``{"x": features, "y": label}``, as many Hugging Face style pipelines produce."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor):
        self.features, self.labels = features, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.features[index], "y": self.labels[index]}


def _digits(limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    digits = load_digits()
    features = torch.tensor(digits.data[:limit], dtype=torch.float32) / 16.0
    labels = torch.tensor(digits.target[:limit], dtype=torch.long)
    return features, labels


class TrainOnlyVectors(LightningDataModule):
    """Digits as 64-value vectors, split 80/10/10, with only a training loader (no val/test/predict data).

    Args:
        data_dir: unused (the data ships with scikit-learn); here because nearly every DataModule has one.
        batch_size: samples per step.
        limit: use only the first ``limit`` samples (tests stay fast).
        dict_batches: yield ``{"x", "y"}`` dicts instead of ``(x, y)`` tuples.
    """

    def __init__(
        self, data_dir: str = "./data", batch_size: int = 32, limit: int | None = None, dict_batches: bool = False
    ):
        super().__init__()
        self.save_hyperparameters()
        self.data_dir = data_dir
        self.batch_size = batch_size

    def setup(self, stage: str) -> None:
        features, labels = _digits(self.hparams.limit)
        full = DictDataset(features, labels) if self.hparams.dict_batches else TensorDataset(features, labels)
        n = len(full)
        sizes = [n - 2 * (n // 10), n // 10, n // 10]
        self.train_set, self.val_set, self.test_set = random_split(
            full, sizes, generator=torch.Generator().manual_seed(0)
        )

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)


class DigitsVectors(TrainOnlyVectors):
    """Digits as 64-value vectors with train, validation, test and predict loaders: its own ``batch_size``
    (an ``int``) and ``data_dir``, as nearly every DataModule has."""

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=self.batch_size)

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=self.batch_size)


class FolderVectors(DigitsVectors):
    """Like most DataModules: the data folder is required (no default)."""

    def __init__(self, data_dir: str, batch_size: int = 32, limit: int | None = None):
        super().__init__(data_dir=data_dir, batch_size=batch_size, limit=limit)

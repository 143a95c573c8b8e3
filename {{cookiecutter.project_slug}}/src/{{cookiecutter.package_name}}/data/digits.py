"""scikit-learn's handwritten digits: 1,797 8x8 images that ship inside the package, so training is offline."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from torch.utils.data import TensorDataset

from {{ cookiecutter.package_name }}.data.base import ClassificationDataModule


class DigitsDataModule(ClassificationDataModule):
    """The default data: small enough to train to 97 %+ accuracy in seconds on a laptop CPU.

    Splits are drawn from ``seed`` (inherited), so every run and every rank sees the same partition.

    Args:
        val_fraction: share of the images held out for validation.
        test_fraction: share of the images held out for the final test.
        **kwargs: loader options of :class:`ClassificationDataModule`.
    """

    image_size = 8
    in_channels = 1
    class_names = [str(d) for d in range(10)]

    def __init__(self, val_fraction: float = 0.15, test_fraction: float = 0.15, **kwargs):
        super().__init__(**kwargs)
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction

    def setup(self, stage: str | None = None) -> None:
        if stage == "predict":
            self.setup_predict()
            return
        if self.train_set is not None:
            return
        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        labels = torch.tensor(digits.target, dtype=torch.long)
        self.check_labels(labels, "digits")
        train_fraction = 1.0 - self.val_fraction - self.test_fraction
        parts = self.split(range(len(labels)), (train_fraction, self.val_fraction, self.test_fraction))
        # Index the tensors once: a TensorDataset per split avoids a Subset lookup per sample.
        self.train_set, self.val_set, self.test_set = (
            TensorDataset(images[list(part)], labels[list(part)]) for part in parts
        )

"""scikit-learn's handwritten digits: 1,797 8x8 images that ship inside the package, so training is offline."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch

from {{ cookiecutter.package_name }}.data.base import ClassificationDataModule
from {{ cookiecutter.package_name }}.data.in_memory import InMemoryDataset


@functools.lru_cache(maxsize=1)
def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Images (1797, 8, 8) valued 0..16 and labels as ``sklearn.datasets.load_digits`` returns them, but read from
    its CSV: importing ``sklearn.datasets`` takes a second (pandas, pyarrow), a tenth of the default run."""
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if path is not None and path.is_file():
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
        if table.shape == (1797, 65):
            return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images, digits.target


class DigitsDataModule(ClassificationDataModule):
    """The default data: small enough to train to 97 %+ accuracy in seconds on a laptop CPU.

    Args:
        val_fraction: share of the images held out for validation.
        test_fraction: share of the images held out for the final test.
        **kwargs: loader options of :class:`ClassificationDataModule`.
    """

    image_size = 8
    in_channels = 1
    class_names = [str(d) for d in range(10)]
    hflip = False  # a mirrored 2 is not a 2

    def __init__(self, val_fraction: float = 0.15, test_fraction: float = 0.15, **kwargs):
        super().__init__(**kwargs)
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction

    def make_splits(self) -> tuple[InMemoryDataset, ...]:
        images_np, labels_np = load_digits_arrays()
        images = torch.tensor(images_np, dtype=torch.float32).unsqueeze(1) / 16.0
        labels = torch.tensor(labels_np, dtype=torch.long)
        self.check_labels(labels, "digits")
        fractions = (1.0 - self.val_fraction - self.test_fraction, self.val_fraction, self.test_fraction)
        train, val, test = (list(part) for part in self.split(range(len(labels)), fractions))
        return (  # augmentation on the training split only
            InMemoryDataset(images[train], labels[train], transform=self.augmentation()),
            InMemoryDataset(images[val], labels[val]),
            InMemoryDataset(images[test], labels[test]),
        )

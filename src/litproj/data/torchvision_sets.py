"""MNIST, FashionMNIST and CIFAR-10 through torchvision, in their real on-disk formats."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import torch
from torch.utils.data import Dataset, Subset
from torchvision import datasets

from litproj.data.augment import Augment
from litproj.data.base import ClassificationDataModule
from litproj.data.images import channel_stats, train_transform
from litproj.errors import UserError


class Spec(NamedTuple):
    cls: Any
    image_size: int
    in_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    hflip: bool  # whether a mirrored image keeps its label


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SPECS = {
    "MNIST": Spec(datasets.MNIST, 28, 1, (0.1307,), (0.3081,), hflip=False),
    "FashionMNIST": Spec(datasets.FashionMNIST, 28, 1, (0.2860,), (0.3530,), hflip=True),
    "CIFAR10": Spec(datasets.CIFAR10, 32, 3, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), hflip=True),
}


def without_checksums(cls: Any) -> type:
    """The dataset class with its MD5 checks reduced to "the files exist" (for locally built subsets)."""
    files = {key: [[name, None] for name, _ in getattr(cls, key)] for key in ("train_list", "test_list")}
    return type(cls.__name__, (cls,), {**files, "meta": {**cls.meta, "md5": None}})


class TorchvisionDataModule(ClassificationDataModule):
    """A classic torchvision dataset; ``download=true`` fetches it, otherwise it must be in ``data_dir``.

    Args:
        dataset: which dataset.
        data_dir: the root torchvision reads (``data_dir/MNIST/raw``, ``data_dir/cifar-10-batches-py``).
        download: fetch the files when missing (needs network access).
        val_fraction: share of the training set held out for validation.
        augment: training-split augmentation preset (flips only where they keep the label).
        verify_checksums: CIFAR-10's MD5 check; turn off only for a locally built subset.
        image_size: resize the images to this square size; ``None`` keeps the dataset's own (28 or 32).
        mean: per-channel normalisation mean; ``None`` uses the dataset's statistics. With pretrained library
            weights, ``image_size``, ``mean`` and ``std`` left unset follow the weights' metadata (a colour mean
            serves grayscale MNIST as its average).
        std: per-channel normalisation std, as ``mean``.
        **kwargs: loader options of :class:`ClassificationDataModule`.
    """

    def __init__(
        self,
        dataset: Literal["MNIST", "FashionMNIST", "CIFAR10"] = "MNIST",
        data_dir: str = "data",
        download: bool = False,
        val_fraction: float = 0.1,
        augment: Augment = "light",
        verify_checksums: bool = True,
        image_size: int | None = None,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        **kwargs,
    ):
        super().__init__(augment=augment, **kwargs)
        self.spec = SPECS[dataset]
        self.dataset = dataset
        self.data_dir = data_dir
        self.download = download
        self.val_fraction = val_fraction
        self.hflip = self.spec.hflip
        self.verify_checksums = verify_checksums
        self.image_size = image_size or self.spec.image_size
        self.in_channels = self.spec.in_channels
        self.mean = channel_stats(mean, self.in_channels, "--data.mean") or list(self.spec.mean)
        self.std = channel_stats(std, self.in_channels, "--data.std") or list(self.spec.std)
        self.class_names = list(getattr(self.spec.cls, "classes", CIFAR10_CLASSES))

    def _load(self, train: bool, transform):
        cls = self.spec.cls
        if not self.verify_checksums and hasattr(cls, "train_list"):
            cls = without_checksums(cls)
        try:
            return cls(self.data_dir, train=train, transform=transform, download=self.download)
        except RuntimeError as err:
            if "not found" not in str(err).lower() and "corrupted" not in str(err).lower():
                raise
            raise UserError(
                f"{self.dataset} not found under '{self.data_dir}': pass --data.download true (needs network) "
                f"or --data.data_dir pointing at an existing copy."
            ) from err

    def prepare_data(self) -> None:
        if self.download:
            self._load(True, None)
            self._load(False, None)

    def make_splits(self) -> tuple[Dataset, Dataset, Dataset]:
        eval_tf = self.predict_transform()
        train_tf = train_transform(self.augmentation(), self.image_size, self.in_channels, self.mean, self.std)
        train_full = self._load(True, train_tf)
        eval_full = self._load(True, eval_tf)
        self.check_labels(torch.as_tensor(train_full.targets), f"{self.dataset} ({self.data_dir})")
        train, val = self.split(range(len(train_full)), (1.0 - self.val_fraction, self.val_fraction))
        return Subset(train_full, list(train)), Subset(eval_full, list(val)), self._load(False, eval_tf)

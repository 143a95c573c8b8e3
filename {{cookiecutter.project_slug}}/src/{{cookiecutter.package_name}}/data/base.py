"""What every {{ cookiecutter.package_name }} DataModule shares: loaders, seeded splits, predict folders and label checks."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from jsonargparse.typing import NonNegativeInt, PositiveInt
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset, random_split

from {{ cookiecutter.package_name }}.data.images import ImageFiles, eval_transform, list_images
from {{ cookiecutter.package_name }}.data.in_memory import in_memory_root, on_device, resident_device, whole_batch
from {{ cookiecutter.package_name }}.errors import UserError


def check_labels(labels: torch.Tensor, num_classes: int, source: str) -> None:
    """Fail on a label outside ``[0, num_classes)``, which a GPU reports much later as "device-side assert"."""
    if labels.numel() == 0:
        raise UserError(f"{source}: no samples found.")
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        index = int(bad.nonzero()[0])
        raise UserError(
            f"{source}: label {int(labels[index])} at index {index} is outside [0, {num_classes}); "
            f"{int(bad.sum())} labels are out of range. Fix the labels or set num_classes to cover them."
        )


class ClassificationDataModule(LightningDataModule):
    """Base class: subclasses set ``image_size``, ``in_channels``, ``class_names`` and define ``make_splits()``.

    Args:
        batch_size: samples per device per step.
        num_workers: DataLoader workers; ``None``: none for in-memory tensors or without a GPU, else up to 8.
        pin_memory: page-locked host memory for faster copies to a GPU; ``None`` pins when CUDA is available.
        device_resident: keep in-memory splits on the GPU (no copy per step); ``None`` does so when a split
            takes at most a quarter of the free GPU memory.
        seed: seed of the train/val/test split, independent of the training seed.
        predict_dir: a folder of images to classify with ``python train.py predict``.
    """

    image_size: int = 0
    in_channels: int = 0
    class_names: list[str] = []

    def __init__(
        self,
        batch_size: PositiveInt = 64,
        num_workers: NonNegativeInt | None = None,
        pin_memory: bool | None = None,
        device_resident: bool | None = None,
        seed: int = 42,
        predict_dir: str | None = None,
    ):
        super().__init__()
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.device_resident = device_resident
        self.seed = seed
        self.predict_dir = predict_dir
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, dataset: Dataset, fractions: tuple[float, ...]) -> list:
        """Split ``dataset`` reproducibly from ``seed``: every run and every rank sees the same partition."""
        return random_split(dataset, list(fractions), generator=torch.Generator().manual_seed(self.seed))

    def predict_transform(self):
        return eval_transform(self.image_size, self.in_channels)

    def check_labels(self, labels: torch.Tensor, source: str) -> None:
        check_labels(labels, self.num_classes, source)

    def setup(self, stage: str | None = None) -> None:
        if stage != "predict" and self.train_set is None:
            self.train_set, self.val_set, self.test_set = self.make_splits()

    def report(self) -> dict:
        """Facts about the data worth keeping in ``results.json`` (e.g. how many bad files were skipped)."""
        return {}

    def _loader(self, dataset: Dataset | None, shuffle: bool, sampler=None) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() did not create this split")
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        resident = resident_device(dataset, device, self.device_resident)
        if resident is not None:
            dataset = on_device(dataset, resident)
        batched = in_memory_root(dataset) is not None
        workers = 0 if resident is not None else self._workers(batched)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=workers,
            pin_memory=self.pin_memory and resident is None,
            persistent_workers=workers > 0,
            collate_fn=whole_batch if batched else None,
        )

    def _workers(self, in_memory: bool) -> int:
        """In-memory batches are one slice; without a GPU, workers would take cores from training."""
        if self.num_workers is not None:
            return self.num_workers
        if in_memory or not torch.cuda.is_available():
            return 0
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return min(8, max(1, cores - 1))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        if self.predict_dir is None:
            raise UserError("predict needs a folder of images: pass --data.predict_dir DIR.")
        files = list_images(Path(self.predict_dir), "--data.predict_dir")
        return self._loader(ImageFiles(files, self.predict_transform()), shuffle=False)

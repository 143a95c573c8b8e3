"""What every {{ cookiecutter.package_name }} DataModule shares: loaders, split sizes, predict folders and label checks."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from jsonargparse.typing import NonNegativeInt, PositiveInt
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset, random_split

from {{ cookiecutter.package_name }}.data.checks import check_labels
from {{ cookiecutter.package_name }}.data.image_files import ImageFiles, list_images
from {{ cookiecutter.package_name }}.data.in_memory import in_memory_root, on_device, resident_device, whole_batch
from {{ cookiecutter.package_name }}.data.transforms import eval_transform
from {{ cookiecutter.package_name }}.errors import UserError


class ClassificationDataModule(LightningDataModule):
    """Base class: subclasses fill ``train_set``, ``val_set``, ``test_set`` and describe their images.

    Args:
        batch_size: samples per device per step.
        num_workers: DataLoader worker processes; ``None`` chooses: none for in-memory tensors (a batch is
            one slice) or without a GPU (workers would take cores from training), else up to 8 to decode files.
        pin_memory: page-locked host memory for faster copies to a GPU; ``None`` pins only when CUDA is
            available.
        device_resident: keep in-memory splits on the GPU so batches are sliced there and nothing is copied
            per step; ``None`` does so when a split takes at most a quarter of the free GPU memory.
        seed: seed of the train/val/test split, independent of the training seed.
        predict_dir: a folder of images to classify with ``python train.py predict``.
    """

    #: image side, channels and class names, set by subclasses (the model reads them).
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
        self.predict_set: ImageFiles | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, dataset: Dataset, fractions: tuple[float, ...]) -> list:
        """Split ``dataset`` reproducibly from ``seed`` into parts of the given fractions."""
        generator = torch.Generator().manual_seed(self.seed)
        return random_split(dataset, list(fractions), generator=generator)

    def check_labels(self, labels: torch.Tensor, source: str) -> None:
        check_labels(labels, self.num_classes, source)

    def predict_transform(self):
        """The transform for images in ``predict_dir``: the eval transform at this module's size and channels."""
        return eval_transform(self.image_size, self.in_channels)

    def setup(self, stage: str | None = None) -> None:
        """``predict`` reads ``predict_dir``; any other stage creates the splits, once, with ``make_splits()``.

        Subclasses either define ``make_splits() -> (train, val, test)`` or override ``setup`` entirely.
        """
        if stage == "predict":
            self.setup_predict()
        elif self.train_set is None:
            self.train_set, self.val_set, self.test_set = self.make_splits()

    def setup_predict(self) -> None:
        if self.predict_dir is None:
            raise UserError("predict needs a folder of images: pass --data.predict_dir DIR.")
        files = list_images(Path(self.predict_dir), "--data.predict_dir")
        self.predict_set = ImageFiles(files, self.predict_transform())

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
        if self.predict_set is None:
            self.setup_predict()
        return self._loader(self.predict_set, shuffle=False)

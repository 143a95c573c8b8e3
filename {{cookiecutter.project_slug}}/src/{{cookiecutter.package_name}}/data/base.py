"""What every {{ cookiecutter.package_name }} DataModule shares: loaders, split sizes, predict folders and label checks."""

from __future__ import annotations

from pathlib import Path

import torch
from jsonargparse.typing import NonNegativeInt, PositiveInt
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset, random_split

from {{ cookiecutter.package_name }}.data.checks import check_labels
from {{ cookiecutter.package_name }}.data.image_files import ImageFiles, list_images
from {{ cookiecutter.package_name }}.data.transforms import eval_transform
from {{ cookiecutter.package_name }}.errors import UserError


class ClassificationDataModule(LightningDataModule):
    """Base class: subclasses fill ``train_set``, ``val_set``, ``test_set`` and describe their images.

    Args:
        batch_size: samples per device per step.
        num_workers: DataLoader worker processes; 0 loads in the main process, the fastest choice for
            in-memory tensors (workers only pay off when decoding files).
        pin_memory: page-locked host memory for faster copies to a GPU; ``None`` pins only when CUDA is
            available.
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
        num_workers: NonNegativeInt = 0,
        pin_memory: bool | None = None,
        seed: int = 42,
        predict_dir: str | None = None,
    ):
        super().__init__()
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
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

    def setup_predict(self) -> None:
        if self.predict_dir is None:
            raise UserError("predict needs a folder of images: pass --data.predict_dir DIR.")
        files = list_images(Path(self.predict_dir), "--data.predict_dir")
        self.predict_set = ImageFiles(files, self.predict_transform())

    def report(self) -> dict:
        """Facts about the data worth keeping in ``results.json`` (e.g. how many bad files were skipped)."""
        return {}

    def _loader(self, dataset: Dataset | None, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() did not create this split")
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

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

"""A folder per class: the layout most teams already have for their own images."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

from {{ cookiecutter.package_name }}.data.augment import Augment
from {{ cookiecutter.package_name }}.data.base import ClassificationDataModule
from {{ cookiecutter.package_name }}.data.images import IMAGENET_MEAN, IMAGENET_STD, ImageFiles, channel_stats, readable, train_transform
from {{ cookiecutter.package_name }}.errors import UserError

SPLIT_FOLDERS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}


class ImageFolderDataModule(ClassificationDataModule):
    """Images in ``data_dir/<class>/...`` (nested folders, upper-case extensions and spaces are fine).

    If ``data_dir`` holds ``train/`` (and ``val/`` or ``test/``) folders, each is a split of its own;
    otherwise one folder is split from ``seed`` by ``val_fraction`` and ``test_fraction``.

    Args:
        data_dir: the folder of class folders (or of split folders).
        image_size: images are resized (eval) or randomly cropped (train) to this square size. With pretrained
            library weights, ``image_size``, ``mean`` and ``std`` left unset follow the weights' metadata.
        in_channels: 3 for colour, 1 to convert to grayscale.
        mean: per-channel normalisation mean; ``None`` uses ImageNet's for colour and 0.5 for grayscale. One
            value serves every channel; three serve grayscale as their average.
        std: per-channel normalisation std, as ``mean``.
        augment: training-split augmentation preset (``light``: random resized crops, flips, colour jitter).
        hflip: horizontal flips in augmentation (turn off for text, digits, or anything with a handedness).
        val_fraction: share held out for validation when there is no ``val/`` folder.
        test_fraction: share held out for testing when there is no ``test/`` folder.
        skip_bad_files: skip unreadable images with a warning counting them, instead of failing.
        **kwargs: loader options of :class:`ClassificationDataModule`.
    """

    def __init__(
        self,
        data_dir: str = "data/images",
        image_size: int = 64,
        in_channels: int = 3,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        augment: Augment = "light",
        hflip: bool = True,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        skip_bad_files: bool = False,
        **kwargs,
    ):
        super().__init__(augment=augment, **kwargs)
        self.data_dir = Path(data_dir)
        self.image_size = image_size
        self.in_channels = in_channels
        gray = in_channels == 1
        self.mean = channel_stats(mean, in_channels, "--data.mean") or ([0.5] if gray else list(IMAGENET_MEAN))
        self.std = channel_stats(std, in_channels, "--data.std") or ([0.5] if gray else list(IMAGENET_STD))
        self.hflip = hflip
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.skip_bad_files = skip_bad_files
        self.skipped_files = 0
        if not self.data_dir.is_dir():
            raise UserError(
                f"--data.data_dir: folder '{self.data_dir}' does not exist. Point it at a folder with one "
                "sub-folder of images per class."
            )
        root = self._split_dirs().get("train", self.data_dir)
        self.class_names = sorted(p.name for p in root.iterdir() if p.is_dir())
        if not self.class_names:
            raise UserError(f"--data.data_dir: '{root}' has no class sub-folders (expected {root}/<class>/*.png).")

    def _split_dirs(self) -> dict[str, Path]:
        """The ``train/``, ``val/`` and ``test/`` folders present (none unless ``train/`` is)."""
        found = {
            split: [self.data_dir / n for n in names if (self.data_dir / n).is_dir()]
            for split, names in SPLIT_FOLDERS.items()
        }
        return {split: folders[0] for split, folders in found.items() if folders} if found["train"] else {}

    def _samples(self, root: Path) -> list[tuple[Path, int]]:
        """``(path, label)`` of every readable image in ``root/<class>/``, naming the first folder without any."""
        class_to_idx = {name: i for i, name in enumerate(self.class_names)}
        for name in self.class_names:
            folder = root / name
            if not folder.is_dir() or not any(p.is_file() for p in folder.rglob("*")):
                raise UserError(f"--data.data_dir: class folder '{folder}' is missing or empty.")
        samples = make_dataset(str(root), class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True)
        empty = sorted(set(class_to_idx.values()) - {label for _, label in samples})
        if empty:
            raise UserError(f"--data.data_dir: class folder '{root / self.class_names[empty[0]]}' has no images.")
        good, skipped = readable(samples, self.skip_bad_files, "--data.skip_bad_files")
        self.skipped_files += skipped
        self.check_labels(torch.tensor([label for _, label in good]), str(root))
        return good

    def make_splits(self) -> tuple[ImageFiles, ImageFiles, ImageFiles]:
        dirs = self._split_dirs()
        if dirs:
            train, val, test = (self._samples(dirs[s]) if s in dirs else [] for s in ("train", "val", "test"))
            if not val and not test:
                raise UserError(f"--data.data_dir: '{self.data_dir}' has train/ but neither val/ nor test/.")
            if not (val and test):
                warnings.warn(f"{self.data_dir} has only one of val/ and test/: both use it", stacklevel=2)
            val, test = val or test, test or val
        else:
            samples = self._samples(self.data_dir)
            fractions = (1.0 - self.val_fraction - self.test_fraction, self.val_fraction, self.test_fraction)
            train, val, test = ([samples[i] for i in part] for part in self.split(range(len(samples)), fractions))
        eval_tf = self.predict_transform()
        train_tf = train_transform(self.augmentation(), self.image_size, self.in_channels, self.mean, self.std)
        return ImageFiles(train, train_tf), ImageFiles(val, eval_tf), ImageFiles(test, eval_tf)

    def report(self) -> dict:
        return {"skipped_files": self.skipped_files}

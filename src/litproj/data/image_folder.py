"""A folder per class: the layout most teams already have for their own images."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from litproj.data.base import ClassificationDataModule
from litproj.data.image_files import ImageFiles, drop_unreadable
from litproj.data.transforms import IMAGENET_MEAN, IMAGENET_STD, eval_transform, train_transform
from litproj.errors import UserError

SPLIT_FOLDERS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}


class ImageFolderDataModule(ClassificationDataModule):
    """Images in ``data_dir/<class>/...`` (nested folders, upper-case extensions and spaces are fine).

    If ``data_dir`` holds ``train/`` (and ``val/`` or ``test/``) folders, each is a split of its own;
    otherwise one folder is split from ``seed`` by ``val_fraction`` and ``test_fraction``.

    Args:
        data_dir: the folder of class folders (or of split folders).
        image_size: images are resized (eval) or randomly cropped (train) to this square size.
        in_channels: 3 for colour, 1 to convert to grayscale.
        mean: per-channel normalisation mean; ``None`` uses ImageNet's for colour and 0.5 for grayscale.
        std: per-channel normalisation std, as ``mean``.
        augment: random resized crops, flips and colour jitter on the training split.
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
        augment: bool = True,
        hflip: bool = True,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        skip_bad_files: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.data_dir = Path(data_dir)
        self.image_size = image_size
        self.in_channels = in_channels
        gray = in_channels == 1
        self.mean = mean or ([0.5] if gray else list(IMAGENET_MEAN))
        self.std = std or ([0.5] if gray else list(IMAGENET_STD))
        self.augment = augment
        self.hflip = hflip
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.skip_bad_files = skip_bad_files
        self.skipped_files = 0
        self.class_names = self._discover_classes()

    def _split_dirs(self) -> dict[str, Path]:
        found = {}
        for split, names in SPLIT_FOLDERS.items():
            for name in names:
                if (self.data_dir / name).is_dir():
                    found[split] = self.data_dir / name
                    break
        return found if "train" in found else {}

    def _discover_classes(self) -> list[str]:
        if not self.data_dir.is_dir():
            raise UserError(
                f"--data.data_dir: folder '{self.data_dir}' does not exist. Point it at a folder with one "
                "sub-folder of images per class."
            )
        root = self._split_dirs().get("train", self.data_dir)
        classes, _ = find_classes(str(root)) if any(p.is_dir() for p in root.iterdir()) else ([], {})
        if not classes:
            raise UserError(f"--data.data_dir: '{root}' has no class sub-folders (expected {root}/<class>/*.png).")
        return classes

    def _samples(self, root: Path) -> list[tuple[Path, int]]:
        class_to_idx = {name: i for i, name in enumerate(self.class_names)}
        for name in self.class_names:
            folder = root / name
            if not folder.is_dir() or not any(p.is_file() for p in folder.rglob("*")):
                raise UserError(f"--data.data_dir: class folder '{folder}' is missing or empty.")
        samples = make_dataset(str(root), class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True)
        counted = {label for _, label in samples}
        empty = [name for name, i in class_to_idx.items() if i not in counted]
        if empty:
            raise UserError(f"--data.data_dir: class folder '{root / empty[0]}' has no images.")
        good, skipped = drop_unreadable(
            [(Path(path), label) for path, label in samples], self.skip_bad_files, "--data.skip_bad_files"
        )
        self.skipped_files += skipped
        self.check_labels(torch.tensor([label for _, label in good]), str(root))
        return good

    def _transforms(self):
        eval_tf = eval_transform(self.image_size, self.in_channels, self.mean, self.std)
        if not self.augment:
            return eval_tf, eval_tf
        return train_transform(self.image_size, self.in_channels, self.mean, self.std, self.hflip), eval_tf

    def predict_transform(self):
        return self._transforms()[1]

    def make_splits(self) -> tuple[ImageFiles, ImageFiles, ImageFiles]:
        train_tf, eval_tf = self._transforms()
        dirs = self._split_dirs()
        if dirs:
            train = self._samples(dirs["train"])
            val = self._samples(dirs["val"]) if "val" in dirs else None
            test = self._samples(dirs["test"]) if "test" in dirs else None
            if val is None and test is None:
                raise UserError(f"--data.data_dir: '{self.data_dir}' has train/ but neither val/ nor test/.")
            if val is None or test is None:
                warnings.warn(f"{self.data_dir} has only one of val/ and test/: both use it", stacklevel=2)
            val, test = (val if val is not None else test), (test if test is not None else val)
            assert val is not None and test is not None  # at least one exists (checked above)
        else:
            samples = self._samples(self.data_dir)
            fractions = (1.0 - self.val_fraction - self.test_fraction, self.val_fraction, self.test_fraction)
            train, val, test = ([samples[i] for i in part] for part in self.split(range(len(samples)), fractions))
        return ImageFiles(train, train_tf), ImageFiles(val, eval_tf), ImageFiles(test, eval_tf)

    def report(self) -> dict:
        return {"skipped_files": self.skipped_files}

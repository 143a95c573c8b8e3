"""What every {{ cookiecutter.package_name }} DataModule shares: loaders, seeded splits, predict folders and label checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import torch
from jsonargparse.typing import NonNegativeInt, PositiveInt
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset, random_split
from torchvision.transforms import v2

from {{ cookiecutter.package_name }}.data.augment import Augment, augmentation, batch_mix, check_alphas
from {{ cookiecutter.package_name }}.data.balance import balanced_sampler, class_counts, counts_line, inverse_frequency, labels_of, write_counts
from {{ cookiecutter.package_name }}.data.folds import check_folds, fold_split
from {{ cookiecutter.package_name }}.data.images import ImageFiles, eval_transform, list_images
from {{ cookiecutter.package_name }}.data.in_memory import in_memory_root, on_device, resident_device, whole_batch
from {{ cookiecutter.package_name }}.data.resumable import ResumableLoader
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


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity under SLURM/taskset/containers, else all)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def loader_workers(cores: int, local_ranks: int) -> int:
    """DataLoader workers per rank: each local rank's share of the cores less one for itself, at most 8."""
    return max(0, min(8, cores // max(1, local_ranks) - 1))


class ClassificationDataModule(LightningDataModule):
    """Base class: subclasses set ``image_size``, ``in_channels``, ``class_names`` and define ``make_splits()``.

    Args:
        batch_size: samples per device per step.
        num_workers: DataLoader workers per rank; ``None``: none for in-memory tensors or when the Trainer runs on
            the CPU, else the cores left per local rank (:func:`loader_workers`).
        pin_memory: page-locked host memory for faster copies to a GPU; ``None``: when the Trainer runs on one.
        device_resident: keep in-memory splits on the GPU (no copy per step); ``None`` does so when a split
            takes at most a quarter of the free GPU memory.
        seed: seed of the train/val/test split, independent of the training seed.
        predict_dir: a folder of images to classify with ``python train.py predict``.
        augment: random label-preserving changes to the training split only (:mod:`{{ cookiecutter.package_name }}.data.augment`).
        mixup: MixUp's alpha for training batches (0: off); the module then gets class probabilities as targets.
        cutmix: CutMix's alpha for training batches (0: off); with ``mixup`` too, each batch gets one of them.
        balance: for unbalanced classes, ``sampler`` draws every class equally often, ``loss`` weights the
            cross-entropy by inverse class frequency (the module reads :attr:`class_weights`).
        folds: k-fold cross-validation: pool the training and validation samples into this many stratified folds
            from ``seed`` (0: the usual split). ``python train.py cv`` trains every fold.
        fold: which fold (0 to ``folds - 1``) validates; the others train, the test split stays as it is.
    """

    image_size: int = 0
    in_channels: int = 0
    class_names: list[str] = []
    hflip: bool = True  # whether a mirrored image keeps its label (augmentation flips only then)
    mean: list[float] | None = None  # per-channel normalisation of the images (None: none)
    std: list[float] | None = None

    def __init__(
        self,
        batch_size: PositiveInt = 64,
        num_workers: NonNegativeInt | None = None,
        pin_memory: bool | None = None,
        device_resident: bool | None = None,
        seed: int = 42,
        predict_dir: str | None = None,
        augment: Augment = "none",
        mixup: float = 0.0,
        cutmix: float = 0.0,
        balance: Literal["none", "sampler", "loss"] = "none",
        folds: int = 0,
        fold: int | None = None,
    ):
        super().__init__()
        check_alphas(mixup, cutmix)
        check_folds(folds, fold)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.device_resident = device_resident
        self.seed = seed
        self.predict_dir = predict_dir
        self.augment = augment
        self.mixup = mixup
        self.cutmix = cutmix
        self.balance = balance
        self.folds = folds
        self.fold = fold
        self.class_weights: torch.Tensor | None = None  # set at setup when balance == "loss"
        self.mix = None  # MixUp/CutMix, built at setup once the classes are known
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
        return eval_transform(self.image_size, self.in_channels, self.mean, self.std)

    def check_labels(self, labels: torch.Tensor, source: str) -> None:
        check_labels(labels, self.num_classes, source)

    def augmentation(self) -> v2.Compose | None:
        """The training split's random steps for ``augment``, for subclasses' train pipelines."""
        steps = augmentation(self.augment, self.image_size, self.in_channels, self.hflip)
        return v2.Compose(steps) if steps else None

    def setup(self, stage: str | None = None) -> None:
        if stage != "predict" and self.train_set is None:
            self.train_set, self.val_set, self.test_set = self.make_splits()
            if self.folds:
                assert self.fold is not None  # check_folds
                split = fold_split(self.train_set, self.val_set, self.folds, self.fold, self.seed, type(self).__name__)
                self.train_set, self.val_set = split
            self.mix = batch_mix(self.mixup, self.cutmix, self.num_classes)
            self.count_classes()

    def count_classes(self) -> None:
        """Print the class counts of each split in one line and save them (rank 0); prepare ``balance``."""
        splits = {"train": self.train_set, "val": self.val_set, "test": self.test_set}
        labels = {name: labels_of(split) for name, split in splits.items()}
        counts = {name: class_counts(found, self.num_classes) for name, found in labels.items() if found is not None}
        if self.balance != "none" and "train" not in counts:
            raise UserError(
                f"--data.balance {self.balance}: cannot read the training labels of {type(self).__name__} without "
                "loading every sample; give its training dataset a `targets` list, or use --data.balance none."
            )
        if self.balance == "loss":
            self.class_weights = inverse_frequency(counts["train"])
        if counts and (self.trainer is None or self.trainer.is_global_zero):
            print(counts_line(counts, self.class_names), flush=True)
            if self.trainer is not None:
                write_counts(Path(self.trainer.default_root_dir) / "class_counts.json", counts, self.class_names)

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
        workers = 0 if resident is not None else self._workers(batched, device)
        pin = device.type == "cuda" if self.pin_memory is None else self.pin_memory
        return ResumableLoader(  # a run resumed mid-epoch continues with the batches it had not trained on
            dataset,
            owner=self,
            batch_size=self.batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=workers,
            pin_memory=pin and resident is None,
            persistent_workers=workers > 0,
            collate_fn=whole_batch if batched else None,
        )

    def _workers(self, in_memory: bool, device: torch.device) -> int:
        """In-memory batches are one slice; a run on the CPU (the Trainer's device, not the machine's) needs its
        cores for training."""
        if self.num_workers is not None:
            return self.num_workers
        if in_memory or device.type == "cpu":
            return 0
        return loader_workers(usable_cores(), self.trainer.num_devices if self.trainer is not None else 1)

    def train_dataloader(self) -> DataLoader:
        if self.balance == "sampler":  # Lightning shards it under DDP (see balanced_sampler)
            labels = labels_of(self.train_set)
            assert labels is not None  # count_classes() refused the data otherwise
            epoch = self.trainer.current_epoch if self.trainer is not None else 0  # new draws if loaders reload
            return self._loader(self.train_set, shuffle=False, sampler=balanced_sampler(labels, self.seed + epoch))
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """MixUp/CutMix on training batches only, on the device (the model summary's ``example_input_array`` also
        comes here while training: a tensor, left alone)."""
        training = self.trainer is not None and self.trainer.training
        if self.mix is not None and training and isinstance(batch, (tuple, list)) and len(batch) == 2:
            return tuple(self.mix(*batch))
        return batch

    def predict_dataloader(self) -> DataLoader:
        if self.predict_dir is None:
            raise UserError("predict needs a folder of images: pass --data.predict_dir DIR.")
        files = list_images(Path(self.predict_dir), "--data.predict_dir")
        return self._loader(ImageFiles(files, self.predict_transform()), shuffle=False)

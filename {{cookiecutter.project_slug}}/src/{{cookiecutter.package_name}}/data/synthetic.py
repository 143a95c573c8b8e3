"""Images made up in memory: for throughput benchmarks and for trying a new machine before real data exists."""

from __future__ import annotations

import torch
from jsonargparse.typing import PositiveInt

from {{ cookiecutter.package_name }}.data.base import ClassificationDataModule
from {{ cookiecutter.package_name }}.data.in_memory import InMemoryDataset


class SyntheticDataModule(ClassificationDataModule):
    """Each class has a fixed random pattern; a sample is its class's pattern plus Gaussian noise: no files, yet
    learnable, so a broken training loop still shows as accuracy stuck at chance. Default: CIFAR-10's shape.

    Args:
        num_samples: training images; validation and test get a tenth as many each.
        image_size: side of the square images.
        in_channels: image channels.
        num_classes: number of classes.
        noise: standard deviation of the noise around each class pattern (higher is harder).
        **kwargs: loader options of :class:`ClassificationDataModule`.
    """

    def __init__(
        self,
        num_samples: PositiveInt = 10_000,
        image_size: PositiveInt = 32,
        in_channels: PositiveInt = 3,
        num_classes: PositiveInt = 10,
        noise: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # Plain ints: they are linked into the model's hyperparameters, and checkpoints load with
        # weights_only=True, which refuses jsonargparse's PositiveInt.
        self.num_samples = int(num_samples)
        self.image_size = int(image_size)
        self.in_channels = int(in_channels)
        self.class_names = [f"class_{i}" for i in range(int(num_classes))]
        self.noise = noise

    def make_splits(self) -> tuple[InMemoryDataset, ...]:
        generator = torch.Generator().manual_seed(self.seed)
        shape = (self.in_channels, self.image_size, self.image_size)
        patterns = torch.randn((self.num_classes, *shape), generator=generator)
        splits: list[InMemoryDataset] = []
        for count in (self.num_samples, max(1, self.num_samples // 10), max(1, self.num_samples // 10)):
            labels = torch.randint(0, self.num_classes, (count,), generator=generator)
            images = patterns[labels] + self.noise * torch.randn((count, *shape), generator=generator)
            splits.append(InMemoryDataset(images, labels, transform=None if splits else self.augmentation()))
        return tuple(splits)

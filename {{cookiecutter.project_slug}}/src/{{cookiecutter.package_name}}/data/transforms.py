"""torchvision transforms v2 pipelines shared by the file-based DataModules."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _tail(in_channels: int, mean: Sequence[float] | None, std: Sequence[float] | None) -> list:
    steps: list = [v2.ToImage()]
    if in_channels == 1:
        steps.append(v2.Grayscale(num_output_channels=1))
    else:
        steps.append(v2.RGB())
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if mean is not None and std is not None:
        steps.append(v2.Normalize(list(mean), list(std)))
    return steps


def train_transform(
    image_size: int,
    in_channels: int,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    hflip: bool = True,
) -> v2.Compose:
    """Light, label-preserving augmentation: random resized crop, optional flip, small colour jitter."""
    augment: list = [v2.RandomResizedCrop(image_size, scale=(0.7, 1.0), antialias=True)]
    if hflip:
        augment.append(v2.RandomHorizontalFlip())
    if in_channels == 3:
        augment.append(v2.ColorJitter(0.2, 0.2, 0.2))
    return v2.Compose([v2.ToImage(), *augment, *_tail(in_channels, mean, std)])


def eval_transform(
    image_size: int,
    in_channels: int,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> v2.Compose:
    """Deterministic resize to the training size: what validation, test and predict see."""
    return v2.Compose(
        [v2.ToImage(), v2.Resize((image_size, image_size), antialias=True), *_tail(in_channels, mean, std)]
    )

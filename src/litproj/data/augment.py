"""Augmentation presets (torchvision transforms v2) for the training split, and MixUp/CutMix on its batches.

A preset is per-sample random steps that keep the label (file pipelines run them before normalisation, in-memory
sets on each tensor of a batch). MixUp and CutMix blend pairs of samples, so they act on whole batches and turn the
labels into class probabilities (the module must accept soft targets).
"""

from __future__ import annotations

from typing import Literal

from torchvision.transforms import v2

from litproj.errors import UserError

Augment = Literal["none", "light", "strong"]


def augmentation(preset: Augment, image_size: int, in_channels: int, hflip: bool = True) -> list[v2.Transform]:
    """The random steps of ``preset``: ``light`` crops (70-100 % of the area), flips when ``hflip`` and jitters
    colour images a little; ``strong`` crops and flips, then applies one TrivialAugmentWide operation."""
    if preset == "none":
        return []
    steps: list[v2.Transform] = [v2.RandomResizedCrop(image_size, scale=(0.7, 1.0), antialias=True)]
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    if preset == "strong":
        steps.append(v2.TrivialAugmentWide())
    elif in_channels == 3:
        steps.append(v2.ColorJitter(0.2, 0.2, 0.2))
    return steps


def check_alphas(mixup: float, cutmix: float) -> None:
    """Fail before training on an alpha MixUp/CutMix would reject only at the first batch."""
    for flag, alpha in (("--data.mixup", mixup), ("--data.cutmix", cutmix)):
        if not alpha >= 0:  # also catches NaN
            raise UserError(f"{flag} must be >= 0 (got {alpha}): 0 turns it off, 0.2 to 1.0 is usual.")


def batch_mix(mixup: float, cutmix: float, num_classes: int) -> v2.Transform | None:
    """MixUp and/or CutMix for a batch ``(images, labels)``; with both, each batch gets one of them at random."""
    check_alphas(mixup, cutmix)
    pairs = ((v2.MixUp, mixup), (v2.CutMix, cutmix))
    chosen = [mix(alpha=alpha, num_classes=num_classes) for mix, alpha in pairs if alpha > 0]
    if not chosen:
        return None
    return chosen[0] if len(chosen) == 1 else v2.RandomChoice(chosen)

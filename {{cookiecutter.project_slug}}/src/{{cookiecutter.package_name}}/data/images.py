"""Image files (finding, verifying and loading them: the part users get wrong) and the torchvision v2 pipelines
that turn them into tensors."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS, pil_loader
from torchvision.transforms import v2

from {{ cookiecutter.package_name }}.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
Stats = Sequence[float] | None


def channel_stats(values: Stats, in_channels: int, flag: str) -> list[float] | None:
    """``values`` (a mean or std) as one number per channel: one number serves every channel; a colour triple
    serves grey images as its average, close to what pretrained weights expect once their stem sums its colour
    filters (:func:`{{ cookiecutter.package_name }}.nets.layers.fold_channels`). Any other count is a one-line error naming ``flag``."""
    if values is None:
        return None
    values = [float(v) for v in values]
    if len(values) == in_channels:
        return values
    if values and (len(values) == 1 or in_channels == 1):
        return [sum(values) / len(values)] * in_channels
    raise UserError(f"{flag}: {len(values)} values for {in_channels}-channel images; give one per channel.")


def _to_tensor(in_channels: int, mean: Stats, std: Stats) -> list:
    steps = [v2.Grayscale(1) if in_channels == 1 else v2.RGB(), v2.ToDtype(torch.float32, scale=True)]
    return steps + ([v2.Normalize(list(mean), list(std))] if mean is not None and std is not None else [])


def train_transform(
    augment: Callable | None, image_size: int, in_channels: int, mean: Stats = None, std: Stats = None
) -> v2.Compose:
    """``augment``'s random steps (they set the size) on the decoded image, before scaling and normalising;
    without them, what evaluation sees."""
    if augment is None:
        return eval_transform(image_size, in_channels, mean, std)
    return v2.Compose([v2.ToImage(), augment, *_to_tensor(in_channels, mean, std)])


def eval_transform(image_size: int, in_channels: int, mean: Stats = None, std: Stats = None) -> v2.Compose:
    """Deterministic resize to the training size: what validation, test and predict see."""
    resize = v2.Resize((image_size, image_size), antialias=True)
    return v2.Compose([v2.ToImage(), resize, *_to_tensor(in_channels, mean, std)])


def list_images(folder: Path, flag: str) -> list[Path]:
    """Every image below ``folder`` (nested folders, any case of extension), in a stable order."""
    if not folder.is_dir():
        raise UserError(f"{flag}: folder '{folder}' does not exist.")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)
    if not files:
        raise UserError(f"{flag}: no images ({', '.join(IMG_EXTENSIONS)}) found in '{folder}'.")
    return files


def readable(samples: list[tuple[str, int]], skip: bool, flag: str) -> tuple[list[tuple[Path, int]], int]:
    """The samples PIL can read and how many were skipped; fail on the first bad file unless ``skip``."""
    good = []
    for path, label in samples:
        try:
            with Image.open(path) as image:
                image.verify()
            good.append((Path(path), label))
        except Exception as err:  # PIL raises many types for corrupt files
            if not skip:
                raise UserError(
                    f"cannot read image '{path}' ({str(err) or type(err).__name__}). Fix or delete it, or pass "
                    f"{flag} true to skip unreadable files."
                ) from None
    skipped = len(samples) - len(good)
    if skipped:
        warnings.warn(f"skipped {skipped} unreadable image file(s)", stacklevel=2)
    return good, skipped


class ImageFiles(Dataset):
    """Images from a list of paths, with labels when known (training) or without (predict)."""

    def __init__(self, samples: Sequence[Path] | Sequence[tuple[Path, int]], transform: Callable):
        self.samples: list[Path | tuple[Path, int]] = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def paths(self) -> list[Path]:
        return [s[0] if isinstance(s, tuple) else s for s in self.samples]

    def __getitem__(self, index: int):
        sample = self.samples[index]
        path, label = sample if isinstance(sample, tuple) else (sample, None)
        x = self.transform(pil_loader(path))
        return x if label is None else (x, label)

"""Finding, verifying and loading image files: the part of a file-based dataset users get wrong."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS

from {{ cookiecutter.package_name }}.errors import UserError


def is_image(path: Path) -> bool:
    """Image by extension, case-insensitively (``.JPG`` and ``.png`` alike)."""
    return path.suffix.lower() in IMG_EXTENSIONS


def list_images(folder: Path, flag: str) -> list[Path]:
    """Every image below ``folder``, nested folders included, in a stable order."""
    if not folder.is_dir():
        raise UserError(f"{flag}: folder '{folder}' does not exist.")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and is_image(p))
    if not files:
        raise UserError(f"{flag}: no images ({', '.join(IMG_EXTENSIONS)}) found in '{folder}'.")
    return files


def unreadable_reason(path: Path) -> str | None:
    """Why PIL cannot read ``path``, or ``None`` when the file is a valid image."""
    try:
        with Image.open(path) as image:
            image.verify()
    except Exception as err:  # PIL raises many types for corrupt files
        return str(err) or type(err).__name__
    return None


def drop_unreadable(
    samples: Sequence[tuple[Path, int]], skip_bad_files: bool, flag: str
) -> tuple[list[tuple[Path, int]], int]:
    """Return the readable samples and how many were skipped; fail on the first bad file unless skipping."""
    good, skipped = [], 0
    for path, label in samples:
        reason = unreadable_reason(path)
        if reason is None:
            good.append((path, label))
            continue
        if not skip_bad_files:
            raise UserError(
                f"cannot read image '{path}' ({reason}). Fix or delete it, or pass "
                f"{flag} true to skip unreadable files."
            )
        skipped += 1
    if skipped:
        warnings.warn(f"skipped {skipped} unreadable image file(s)", stacklevel=2)
    return good, skipped


class ImageFiles(Dataset):
    """Images from a list of paths, with labels when known (training) or without (predict).

    Args:
        samples: paths, or ``(path, label)`` pairs.
        transform: applied to the PIL image.
    """

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
        with Image.open(path) as image:
            x = self.transform(image.convert("RGB"))
        return x if label is None else (x, label)

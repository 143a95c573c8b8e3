"""Pre-flight checks that turn silent data mistakes into one clear line before training starts."""

from __future__ import annotations

import torch

from {{ cookiecutter.package_name }}.errors import UserError


def check_labels(labels: torch.Tensor, num_classes: int, source: str) -> None:
    """Fail when a label lies outside ``[0, num_classes)``.

    On a GPU such a label surfaces much later as an opaque "device-side assert triggered"; here it
    names the offending value and its position.
    """
    if labels.numel() == 0:
        raise UserError(f"{source}: no samples found.")
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        index = int(bad.nonzero()[0])
        raise UserError(
            f"{source}: label {int(labels[index])} at index {index} is outside [0, {num_classes}); "
            f"{int(bad.sum())} labels are out of range. Fix the labels or set num_classes to cover them."
        )

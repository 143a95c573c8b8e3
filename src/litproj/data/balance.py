"""Class counts per split, and the two remedies for unbalanced classes: a weighted sampler or class weights.

Counting must not load a single image, so labels are read from what the datasets already hold.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset, TensorDataset, WeightedRandomSampler

from litproj.data.images import ImageFiles


def labels_of(dataset: Dataset | None) -> torch.Tensor | None:
    """Every label of ``dataset`` (through ``Subset`` wrappers), or ``None`` when it keeps them nowhere readable."""
    if isinstance(dataset, Subset):
        labels = labels_of(dataset.dataset)
        return None if labels is None else labels[torch.as_tensor(list(dataset.indices), dtype=torch.long)]
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) > 1:
        return dataset.tensors[1].cpu()
    if isinstance(dataset, ImageFiles):
        return torch.tensor([s[1] for s in dataset.samples if isinstance(s, tuple)], dtype=torch.long)
    targets = getattr(dataset, "targets", None)
    return None if targets is None else torch.as_tensor(targets, dtype=torch.long)


def class_counts(labels: torch.Tensor, num_classes: int) -> list[int]:
    return torch.bincount(labels.long(), minlength=num_classes).tolist()


def inverse_frequency(counts: Sequence[int]) -> torch.Tensor:
    """``N / (C * n_c)`` per class (scikit-learn's "balanced"): 1 for every class when all are equally frequent,
    so the loss keeps its scale. A class absent from training gets the weight of a class seen once."""
    n = torch.tensor(counts, dtype=torch.float32)
    return n.sum() / (len(n) * n.clamp(min=1))


def balanced_sampler(labels: torch.Tensor, seed: int) -> WeightedRandomSampler:
    """Draws (with replacement) every class equally often on average, as many samples per epoch as the split has.
    Under DDP Lightning's ``DistributedSamplerWrapper`` lists its draws on every rank and hands each rank a share:
    the seeded generator makes all ranks list the same draws, so the shares partition one epoch."""
    per_sample = inverse_frequency(class_counts(labels, int(labels.max()) + 1)).double()[labels.long()]
    generator = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(per_sample, len(labels), replacement=True, generator=generator)


def counts_line(counts: dict[str, list[int]], class_names: Sequence[str]) -> str:
    """One line for any number of classes: each split's size and its rarest and commonest class."""
    parts = []
    for split, per_class in counts.items():
        rare, common = per_class.index(min(per_class)), per_class.index(max(per_class))
        parts.append(
            f"{split} {sum(per_class)} (fewest '{class_names[rare]}' {per_class[rare]}, "
            f"most '{class_names[common]}' {per_class[common]})"
        )
    return "class counts: " + ", ".join(parts)


def write_counts(path: Path, counts: dict[str, list[int]], class_names: Sequence[str]) -> None:
    table = {split: dict(zip(class_names, per_class, strict=True)) for split, per_class in counts.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")

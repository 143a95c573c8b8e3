"""Datasets held in memory as tensors, served a whole batch per index list, optionally from the GPU.

A ``TensorDataset`` is indexed once per sample and ``default_collate`` stacks the samples again: more than a small
network's forward pass costs. ``__getitems__`` (``DataLoader``'s batched fetch) makes a batch one indexing operation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import Dataset, Subset, TensorDataset


class InMemoryDataset(TensorDataset):
    """Tensors of equal first dimension (images, labels); ``transform`` applies to each image (the first tensor),
    e.g. training augmentation."""

    def __init__(self, *tensors: torch.Tensor, transform: Callable | None = None):
        super().__init__(*tensors)
        self.transform = transform

    def __getitem__(self, index):
        sample = super().__getitem__(index)
        return sample if self.transform is None else (self.transform(sample[0]), *sample[1:])

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        index = torch.as_tensor(indices, device=self.device)
        images, *rest = (tensor[index] for tensor in self.tensors)
        if self.transform is not None:
            images = torch.stack([self.transform(image) for image in images])
        return (images, *rest)

    @property
    def device(self) -> torch.device:
        return self.tensors[0].device


def whole_batch(batch):
    """``collate_fn`` for datasets whose ``__getitems__`` already returns a stacked batch."""
    return batch


def in_memory_root(dataset: Dataset | None) -> InMemoryDataset | None:
    """The :class:`InMemoryDataset` under ``dataset`` (through ``Subset`` wrappers), or ``None``."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return dataset if isinstance(dataset, InMemoryDataset) else None


def fits_on_device(nbytes: int, free_bytes: int) -> bool:
    return nbytes <= 0.25 * free_bytes  # a quarter of the free device memory at most


def resident_device(dataset: Dataset | None, device: torch.device, choice: bool | None) -> torch.device | None:
    """The GPU to keep ``dataset`` on (batches are then sliced there, nothing copied per step), or ``None``;
    ``choice`` ``True`` forces it for in-memory data on a GPU, ``False`` never, ``None`` decides by size."""
    root = in_memory_root(dataset)
    if choice is False or root is None or device.type != "cuda":
        return None
    if choice is None and not fits_on_device(sum(t.nbytes for t in root.tensors), torch.cuda.mem_get_info(device)[0]):
        return None
    return device


def on_device(dataset: Dataset, device: torch.device) -> Dataset:
    """``dataset`` with its in-memory tensors moved to ``device`` (``Subset`` wrappers kept)."""
    if isinstance(dataset, Subset):
        return Subset(on_device(dataset.dataset, device), dataset.indices)
    assert isinstance(dataset, InMemoryDataset)
    if dataset.device == torch.device(device):
        return dataset
    return InMemoryDataset(*(tensor.to(device) for tensor in dataset.tensors), transform=dataset.transform)

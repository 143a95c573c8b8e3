"""Datasets that live in memory as tensors: served a whole batch per index list, optionally from the GPU.

A plain ``TensorDataset`` behind a ``DataLoader`` is indexed once per sample and the samples are
stacked again by ``default_collate``: 64 small copies and a stack per batch, which costs more than
a small network's forward pass. :class:`InMemoryDataset` implements ``__getitems__`` (the batched
fetch that ``DataLoader`` uses when a dataset offers it), so each batch is one indexing operation.
The sampler is untouched, so Lightning's ``DistributedSampler`` still shards the data across ranks.

When training on a GPU and the tensors fit comfortably in its free memory, :func:`resident_device`
says to keep them on the device: batches are then sliced there and nothing is copied per step.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, Subset, TensorDataset

#: Keep a dataset on the GPU only when it takes at most this share of the free device memory.
MAX_DEVICE_FRACTION = 0.25


class InMemoryDataset(TensorDataset):
    """Tensors of equal first dimension (images, labels); ``dataset[i]`` is one sample as usual."""

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        index = torch.as_tensor(indices, device=self.tensors[0].device)
        return tuple(tensor[index] for tensor in self.tensors)

    @property
    def nbytes(self) -> int:
        return sum(tensor.numel() * tensor.element_size() for tensor in self.tensors)

    @property
    def device(self) -> torch.device:
        return self.tensors[0].device

    def to(self, device: torch.device | str) -> InMemoryDataset:
        """The same samples on ``device`` (``self`` when already there)."""
        if self.device == torch.device(device):
            return self
        return InMemoryDataset(*(tensor.to(device) for tensor in self.tensors))


def whole_batch(batch):
    """``collate_fn`` for datasets whose ``__getitems__`` already returns a stacked batch."""
    return batch


def in_memory_root(dataset: Dataset | None) -> InMemoryDataset | None:
    """The :class:`InMemoryDataset` under ``dataset`` (through ``Subset`` wrappers), or ``None``."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return dataset if isinstance(dataset, InMemoryDataset) else None


def fits_on_device(nbytes: int, free_bytes: int) -> bool:
    return nbytes <= MAX_DEVICE_FRACTION * free_bytes


def resident_device(dataset: Dataset | None, device: torch.device, choice: bool | None) -> torch.device | None:
    """The GPU to keep ``dataset`` on, or ``None`` to leave it in host memory.

    Args:
        dataset: a split; only in-memory tensor datasets can live on the device.
        device: the device this process trains on.
        choice: ``True`` forces it (for in-memory data on a GPU), ``False`` never, ``None`` decides by size.
    """
    root = in_memory_root(dataset)
    if choice is False or root is None or device.type != "cuda":
        return None
    if choice is None:
        free_bytes, _ = torch.cuda.mem_get_info(device)
        if not fits_on_device(root.nbytes, free_bytes):
            return None
    return device


def on_device(dataset: Dataset, device: torch.device) -> Dataset:
    """``dataset`` with its in-memory tensors moved to ``device`` (``Subset`` wrappers kept)."""
    if isinstance(dataset, Subset):
        return Subset(on_device(dataset.dataset, device), dataset.indices)
    assert isinstance(dataset, InMemoryDataset)
    return dataset.to(device)

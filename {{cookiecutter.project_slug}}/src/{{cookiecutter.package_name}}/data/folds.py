"""K-fold splits for any {{ cookiecutter.package_name }} DataModule: the training and validation samples pooled, cut into ``folds``
stratified parts from the data's seed, part ``fold`` held out for validation and the rest trained on.

Works on the datasets ``make_splits()`` returns, so every DataModule (a user's subclass too) gets folds without code
of its own. The held-out part is served as the validation split was (no augmentation), the training part as the
training split was; the test split stays out of every fold, for the final word on the chosen model.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Subset

from {{ cookiecutter.package_name }}.data.balance import labels_of
from {{ cookiecutter.package_name }}.data.in_memory import InMemoryDataset, in_memory_root
from {{ cookiecutter.package_name }}.errors import UserError


def check_folds(folds: int, fold: int | None) -> None:
    """One line for each way ``--data.folds``/``--data.fold`` can be wrong, before anything is loaded."""
    if folds == 0 and fold is not None:
        raise UserError(f"--data.fold {fold} needs --data.folds N, the number of folds (e.g. --data.folds 5).")
    if folds == 0:
        return
    if folds < 2:
        raise UserError(f"--data.folds {folds}: k-fold needs at least 2 folds (0, the default, turns folds off).")
    if fold is None:
        raise UserError(
            f"--data.folds {folds} needs --data.fold K (0 to {folds - 1}), the fold held out for validation; "
            f"`python train.py cv --data.folds {folds}` trains every fold."
        )
    if not 0 <= fold < folds:
        raise UserError(f"--data.fold {fold} is out of range for --data.folds {folds}: folds are 0 to {folds - 1}.")


class LabelledConcat(ConcatDataset):
    """``ConcatDataset`` whose labels stay readable (:func:`{{ cookiecutter.package_name }}.data.balance.labels_of` reads ``targets``)."""

    def __init__(self, datasets: list[Dataset], targets: torch.Tensor):
        super().__init__(datasets)
        self.targets = targets


def transform_of(dataset: Dataset):
    """The ``transform`` under ``dataset``'s ``Subset`` wrappers (``None`` when it has none)."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return getattr(dataset, "transform", None)


def with_transform(dataset: Dataset, transform) -> Dataset:
    """``dataset`` serving its samples through ``transform`` (a shallow copy; ``Subset`` wrappers kept)."""
    if isinstance(dataset, Subset):
        return Subset(with_transform(dataset.dataset, transform), dataset.indices)
    if not hasattr(dataset, "transform"):
        return dataset
    copied = copy.copy(dataset)
    copied.transform = transform
    return copied


def _tensors(dataset: Dataset) -> tuple[torch.Tensor, ...]:
    """An in-memory dataset's tensors, indexed through its ``Subset`` wrappers."""
    if isinstance(dataset, Subset):
        index = torch.as_tensor(list(dataset.indices), dtype=torch.long)
        return tuple(t[index.to(t.device)] for t in _tensors(dataset.dataset))
    assert isinstance(dataset, InMemoryDataset)
    return dataset.tensors


def pooled(parts: list[Dataset], transform, labels: torch.Tensor) -> Dataset:
    """The samples of ``parts``, in order, through ``transform``: one in-memory dataset when they all are (batches
    stay one indexing operation), else a concatenation."""
    if all(in_memory_root(part) is not None for part in parts):
        tensors = [torch.cat(group) for group in zip(*(_tensors(part) for part in parts), strict=True)]
        return InMemoryDataset(*tensors, transform=transform)
    return LabelledConcat([with_transform(part, transform) for part in parts], labels)


def fold_indices(labels: torch.Tensor, folds: int, seed: int) -> list[np.ndarray]:
    """The held-out indices of each fold: a stratified partition of ``range(len(labels))``, fixed by ``seed``."""
    from sklearn.model_selection import StratifiedKFold  # imported only when folds are asked for (a second)

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    targets = labels.cpu().numpy()
    try:
        with warnings.catch_warnings():  # a class rarer than `folds` is legal; it just misses some folds
            warnings.simplefilter("ignore", UserWarning)
            return [held for _, held in splitter.split(np.zeros(len(targets)), targets)]
    except ValueError as err:  # more folds than samples in the largest class
        raise UserError(
            f"--data.folds {folds}: too many folds for {len(targets)} samples whose largest class has "
            f"{int(np.bincount(targets).max())}; use fewer folds."
        ) from err


def fold_split(train_set: Dataset, val_set: Dataset | None, folds: int, fold: int, seed: int, owner: str):
    """``(train, held_out)`` of fold ``fold``: both are ``Subset`` views of the pooled train+val samples, whose
    ``indices`` are positions in that pool (training samples first, then validation samples)."""
    parts = [part for part in (train_set, val_set) if part is not None]
    found = [labels_of(part) for part in parts]
    if any(labels is None for labels in found):
        raise UserError(
            f"--data.folds: cannot read the labels of {owner}'s training and validation sets without loading every "
            "sample (stratified folds need them); give each dataset a `targets` list."
        )
    labels = torch.cat([labels.cpu() for labels in found if labels is not None])
    held = fold_indices(labels, folds, seed)[fold]
    kept = np.setdiff1d(np.arange(len(labels)), held)
    train_pool = pooled(parts, transform_of(train_set), labels)
    eval_pool = pooled(parts, transform_of(parts[-1]), labels)
    return Subset(train_pool, kept.tolist()), Subset(eval_pool, held.tolist())

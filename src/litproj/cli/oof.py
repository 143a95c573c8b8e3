"""Out-of-fold predictions: each fold's best model on the samples it never trained on, so that every sample of the
pooled training+validation data gets one honest prediction (for error analysis, calibration or stacking). Any
module whose ``forward`` maps the inputs of ``(inputs, labels, ...)`` batches to ``(batch, classes)`` scores
qualifies; for anything else the predictions are skipped with a one-line note rather than guessed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader, SequentialSampler, Subset

from litproj.errors import say

OOF_FILE = "oof_predictions.csv"


@dataclass
class HeldOut:
    """One fold's held-out samples: where each sits in the pool, its label and the model's class probabilities."""

    fold: int
    index: torch.Tensor
    label: torch.Tensor
    probs: torch.Tensor


def pool_positions(loader: DataLoader) -> torch.Tensor | None:
    """The samples' positions among the pooled training+validation samples, in the loader's order: the ``indices``
    of the ``Subset`` a litproj DataModule holds out (:mod:`litproj.data.folds`); ``None`` when not known."""
    dataset = getattr(loader, "dataset", None)
    if isinstance(dataset, Subset) and isinstance(getattr(loader, "sampler", None), SequentialSampler):
        return torch.as_tensor(list(dataset.indices), dtype=torch.long)
    return None


def _labelled(batch: object) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(inputs, labels)`` of a ``(x, y, ...)`` batch with integer class labels, else ``None``."""
    if not isinstance(batch, (list, tuple)) or len(batch) < 2:
        return None
    x, y = batch[0], batch[1]
    if not (torch.is_tensor(x) and torch.is_tensor(y)) or y.dim() != 1 or y.is_floating_point():
        return None
    return x, y


def predict_held_out(model, loader: DataLoader, fold: int, device: torch.device) -> HeldOut | str:
    """The fold's predictions on ``loader`` (its validation loader), or the reason they cannot be read."""
    labels, probs = [], []
    model.to(device).eval()
    try:
        with torch.no_grad():
            for batch in loader:
                pair = _labelled(batch)
                if pair is None and isinstance(batch, dict):
                    return f"the validation batches are dicts ({', '.join(map(str, batch))})"
                if pair is None:
                    return f"the validation batches are {type(batch).__name__}s, not (inputs, labels) tuples"
                x, y = pair
                out = model(x.to(device))
                if not torch.is_tensor(out) or out.dim() != 2 or len(out) != len(y):
                    return f"{type(model).__name__}.forward does not return (batch, classes) scores"
                probs.append(torch.softmax(out.float(), dim=-1).cpu())
                labels.append(y.cpu())
    finally:
        model.cpu()
    if not labels:
        return "the validation loader is empty"
    label = torch.cat(labels)
    index = pool_positions(loader)
    if index is None or len(index) != len(label):
        index = torch.arange(len(label))  # the position in this fold's validation set
    return HeldOut(fold, index, label, torch.cat(probs))


@dataclass
class OutOfFold:
    """The held-out predictions gathered fold by fold, rewritten to ``oof_predictions.csv`` after each one (rank 0
    only); the first fold they cannot be read for stops them, with one note, and removes the partial file."""

    path: Path
    folds: list[HeldOut] = field(default_factory=list)
    note: str | None = None

    @property
    def wanted(self) -> bool:
        return self.note is None

    def add(self, held_out: HeldOut | str, class_names: list[str] | None = None) -> None:
        if isinstance(held_out, str):
            self.note = f"out-of-fold predictions skipped: {held_out}"
            say(self.note)
            self.path.unlink(missing_ok=True)
        elif self.wanted:
            self.folds.append(held_out)
            self.write(class_names)

    def write(self, class_names: list[str] | None) -> None:
        classes = self.folds[0].probs.shape[1]
        names = class_names if class_names and len(class_names) == classes else range(classes)
        rows = []
        for part in self.folds:
            predicted = part.probs.argmax(dim=1)
            for i in range(len(part.label)):
                probs = [f"{p:.6g}" for p in part.probs[i].tolist()]
                rows.append([int(part.index[i]), part.fold, int(part.label[i]), int(predicted[i]), *probs])
        rows.sort(key=lambda row: (row[0], row[1]))
        with self.path.open("w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["index", "fold", "label", "prediction", *(f"prob_{name}" for name in names)])
            writer.writerows(rows)

    def report(self) -> dict:
        """results.json's part: the file and the share of held-out samples predicted right, or why there is none."""
        if not (self.wanted and self.folds):
            return {"oof_predictions": None, "oof_accuracy": None, "oof_note": self.note}
        right = sum(int((part.probs.argmax(dim=1) == part.label).sum()) for part in self.folds)
        accuracy = right / sum(len(part.label) for part in self.folds)
        return {"oof_predictions": str(self.path), "oof_accuracy": accuracy, "oof_note": None}

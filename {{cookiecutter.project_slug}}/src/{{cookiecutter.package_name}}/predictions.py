"""Write ``predict`` results as a CSV of file, predicted class and probability."""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from pytorch_lightning.callbacks import BasePredictionWriter


class PredictionCSVWriter(BasePredictionWriter):
    """Collects each rank's predictions and writes ``predictions.csv`` (one file per rank under DDP)."""

    def __init__(self, run_dir: Path):
        super().__init__(write_interval="epoch")
        self.run_dir = Path(run_dir)
        self.path: Path | None = None

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices) -> None:
        dataset = trainer.predict_dataloaders.dataset
        names = getattr(trainer.datamodule, "class_names", None)
        suffix = "" if trainer.world_size == 1 else f"_rank{trainer.global_rank}"
        self.path = self.run_dir / f"predictions{suffix}.csv"
        probabilities = torch.cat(predictions) if predictions else torch.empty(0)
        indices = [i for batch in batch_indices[0] for i in batch] if batch_indices else []
        if not indices:
            indices = list(range(len(probabilities)))
        confidence, label = probabilities.max(dim=-1) if len(probabilities) else (torch.empty(0), torch.empty(0))
        with self.path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file", "predicted_class", "probability"])
            for index, cls, prob in zip(indices, label.tolist(), confidence.tolist(), strict=True):
                writer.writerow([str(dataset.paths[index]), names[cls] if names else cls, f"{prob:.6f}"])

"""Write ``predict`` results as one CSV of file, predicted class and probability, whatever the number of ranks."""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from pytorch_lightning.callbacks import BasePredictionWriter

HEADER = ["file", "predicted_class", "probability"]


class PredictionCSVWriter(BasePredictionWriter):
    """Writes ``predictions.csv`` in the order of the predict folder.

    Under DDP each rank predicts a share of the files (the sampler pads the last share with repeats), so
    each rank writes its rows with their dataset index to a part file; after a barrier rank 0 merges the
    parts, drops the repeats and removes them. The user finds one file, as ``results.json`` says.
    """

    def __init__(self, run_dir: Path):
        super().__init__(write_interval="epoch")
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "predictions.csv"

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices) -> None:
        dataset = trainer.predict_dataloaders.dataset
        names = getattr(trainer.datamodule, "class_names", None)
        probabilities = torch.cat(predictions) if predictions else torch.empty(0, 1)
        indices = [i for batch in batch_indices[0] for i in batch] if batch_indices else []
        if not indices:
            indices = list(range(len(probabilities)))
        confidence, label = probabilities.max(dim=-1) if len(probabilities) else (torch.empty(0), torch.empty(0))
        rows = {
            index: [str(dataset.paths[index]), names[cls] if names else cls, f"{prob:.6f}"]
            for index, cls, prob in zip(indices, label.tolist(), confidence.tolist(), strict=True)
        }
        if trainer.world_size == 1:
            self._write(rows)
            return
        with self._part(trainer.global_rank).open("w", newline="") as handle:
            csv.writer(handle).writerows([index, *row] for index, row in rows.items())
        trainer.strategy.barrier("predictions")
        if trainer.is_global_zero:
            merged: dict[int, list] = {}
            for rank in range(trainer.world_size):
                with self._part(rank).open(newline="") as handle:
                    merged.update((int(index), row) for index, *row in csv.reader(handle))
                self._part(rank).unlink()
            self._write(merged)
        trainer.strategy.barrier("predictions written")

    def _part(self, rank: int) -> Path:
        """The file in which ``rank`` leaves its rows (with their dataset index) for rank 0 to merge."""
        return self.run_dir / f".predictions_rank{rank}.csv"

    def _write(self, rows: dict[int, list]) -> None:
        with self.path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            writer.writerows(rows[index] for index in sorted(rows))

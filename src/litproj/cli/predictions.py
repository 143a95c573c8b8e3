"""``python train.py predict`` for any module: what ``predict_step`` returns, written to one file per run. Under
DDP rank 0 gathers the shares and drops the sampler's repeats, so other ranks need no run folder of their own."""

from __future__ import annotations

import csv
from pathlib import Path

import torch
import torch.distributed as dist
from pytorch_lightning.callbacks import BasePredictionWriter
from pytorch_lightning.utilities.model_helpers import is_overridden

from litproj.errors import UserError


def check_predictable(model, datamodule) -> None:
    """Refuse data without a predict loader; give a module without ``predict_step`` one that calls ``forward`` on
    ``batch[0]`` (Lightning's calls ``forward(batch)``, which fails on the ``(x, y)`` batches most datasets yield)."""
    if datamodule is not None and not is_overridden("predict_dataloader", datamodule):
        raise UserError(
            f"predict: {type(datamodule).__name__} has no predict_dataloader(); add one to it (for example one "
            "that returns your test loader)."
        )
    if is_overridden("predict_step", model):
        return

    def predict_step(batch, batch_idx: int, dataloader_idx: int = 0):
        if isinstance(batch, dict):
            raise UserError(
                f"predict: {type(model).__name__} has no predict_step and its batches are dicts "
                f"({', '.join(map(str, batch))}); define predict_step(batch, batch_idx) returning what to save."
            )
        return model(batch[0] if isinstance(batch, (list, tuple)) else batch)

    model.predict_step = predict_step


def _is_probability(values: torch.Tensor) -> bool:
    if values.dim() != 2 or not values.is_floating_point() or values.numel() == 0:
        return False
    return bool((values >= 0).all() and torch.allclose(values.sum(-1), torch.ones(len(values)), atol=1e-3))


class PredictionWriter(BasePredictionWriter):
    """Writes ``predictions.csv`` in ``run_dir`` for per-sample tensors, a row per sample in dataset order, named by
    ``dataset.paths`` or the index, with ``predicted_class`` and ``probability`` for class probabilities, else
    the values (``output``, ``output_0`` ...); ``predictions.pt`` (``torch.save``) for anything else."""

    def __init__(self, run_dir: Path):
        super().__init__(write_interval="epoch")
        self.run_dir = Path(run_dir)
        self.path: Path | None = None

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices) -> None:
        # Lightning hands one list of batch outputs (one dataloader) or one list per dataloader; the batch
        # indices always come as dataloaders x batches x samples.
        several = len(batch_indices or []) > 1
        outputs = [o for part in predictions for o in part] if several else list(predictions)
        indices = [i for part in batch_indices or [] for batch in part for i in batch]
        local = (indices, [o.detach().cpu() if torch.is_tensor(o) else o for o in outputs])
        shares = [local]
        if dist.is_available() and dist.is_initialized() and trainer.world_size > 1:
            gathered: list | None = [None] * trainer.world_size if trainer.is_global_zero else None
            dist.gather_object(local, gathered, dst=0)
            shares = gathered or []
        if trainer.is_global_zero:
            self.path = self._write(trainer, shares, several)
        trainer.strategy.barrier("predictions written")

    def _write(self, trainer, shares: list, several: bool) -> Path:
        outputs = [o for _, share in shares for o in share]
        if several or not outputs or not all(torch.is_tensor(o) and o.dim() in (1, 2) for o in outputs):
            path = self.run_dir / "predictions.pt"
            torch.save([{"batch_indices": idx, "predictions": out} for idx, out in shares], path)
            return path
        rows: dict[int, torch.Tensor] = {}
        for share_indices, share_outputs in shares:
            if not share_outputs:  # a rank that predicted no batch
                continue
            values = torch.cat([o.reshape(len(o), -1) for o in share_outputs])
            share_indices = share_indices if len(share_indices) == len(values) else range(len(values))
            rows.update(zip(share_indices, values, strict=True))  # a repeat overwrites its own first copy
        order = sorted(rows)
        values = torch.stack([rows[i] for i in order]) if order else torch.empty(0, 1)
        loader = trainer.predict_dataloaders
        dataset = getattr(loader[0] if isinstance(loader, list) else loader, "dataset", None)
        paths = getattr(dataset, "paths", None)
        names = [str(paths[i]) for i in order] if paths is not None else order
        path = self.run_dir / "predictions.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            key = "file" if paths is not None else "index"
            if _is_probability(values):
                classes = getattr(trainer.datamodule, "class_names", None)
                confidence, label = values.max(dim=-1)
                writer.writerow([key, "predicted_class", "probability"])
                for name, cls, prob in zip(names, label.tolist(), confidence.tolist(), strict=True):
                    writer.writerow([name, classes[cls] if classes else cls, f"{prob:.6f}"])
            else:
                columns = ["output"] if values.shape[1] == 1 else [f"output_{j}" for j in range(values.shape[1])]
                writer.writerow([key, *columns])
                writer.writerows(
                    [name, *(f"{v:.6g}" for v in row.tolist())] for name, row in zip(names, values, strict=True)
                )
        return path

    def litproj_report(self) -> dict:
        return {"predictions": str(self.path)} if self.path else {}

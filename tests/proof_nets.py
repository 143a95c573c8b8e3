"""Models and data for the strategy proofs: deterministic (no BatchNorm, no dropout, no shuffling).

Equal weights after data-parallel training need every rank to compute exactly what one process would:
batch statistics (BatchNorm), random masks (dropout) and shuffled orders differ per rank, so the proofs
use a small MLP, the digits in a fixed order, and a module that logs a different value on each rank.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler

from litproj.data import DigitsDataModule
from litproj.module import ImageClassifier


class MLP(nn.Sequential):
    """Pool to 4x4, two linear layers: deterministic and cheap, and an ``nn.Sequential`` so it can be split."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, hidden: int = 32):
        super().__init__(
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(in_channels * 16, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, num_classes),
        )


class OrderedDigits(DigitsDataModule):
    """Digits in a fixed order: rank r of N reads samples r, r+N, ... of what one process reads.

    Lightning's own DistributedSampler always shuffles training data, so runs with this module pass
    ``--trainer.use_distributed_sampler false`` and get an unshuffled one here.
    """

    def train_dataloader(self):
        if not dist.is_initialized():
            return self._loader(self.train_set, shuffle=False)
        sampler = DistributedSampler(self.train_set, dist.get_world_size(), dist.get_rank(), shuffle=False)
        return self._loader(self.train_set, shuffle=False, sampler=sampler)


class ProofClassifier(ImageClassifier):
    """ImageClassifier that logs its rank (synced) and records, per rank, the value every rank ended with."""

    def training_step(self, batch, batch_idx: int):
        self.log("proof/rank", float(self.global_rank), on_step=False, on_epoch=True, sync_dist=True)
        return super().training_step(batch, batch_idx)

    def on_train_end(self) -> None:
        value = float(self.trainer.callback_metrics["proof/rank"])
        path = Path(self.trainer.default_root_dir) / f"proof_rank{self.global_rank}.json"
        path.write_text(
            json.dumps({"rank": self.global_rank, "world": self.trainer.world_size, "value": value}), encoding="utf-8"
        )

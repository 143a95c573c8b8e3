"""``python train.py``'s job written by hand with Lightning alone: the baseline of bench/e2e.py.

The same work as {{ cookiecutter.package_name }}'s default run and nothing more: scikit-learn's digits split 70/15/15, a CNN of
the same size as {{ cookiecutter.package_name }}'s ``small_cnn``, AdamW with a per-step cosine, 12 epochs of batch 64, TensorBoard,
the best (by validation accuracy) and the last checkpoint, then a test of the best checkpoint. It is what a
Lightning user writes without a template, so ``e2e.py`` can say what {{ cookiecutter.package_name }}'s start-up and features cost.

    python bench/lightning_baseline.py --runs_dir /tmp/runs [--trainer.max_epochs 1]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split
from torchmetrics.classification import MulticlassAccuracy


class Digits(pl.LightningDataModule):
    def __init__(self, batch_size: int = 64):
        super().__init__()
        self.batch_size = batch_size

    def setup(self, stage: str) -> None:
        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        dataset = TensorDataset(images, torch.tensor(digits.target))
        self.train, self.val, self.test = random_split(
            dataset, [0.7, 0.15, 0.15], generator=torch.Generator().manual_seed(42)
        )

    def train_dataloader(self):
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.val, batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(self.test, batch_size=self.batch_size)


class Classifier(pl.LightningModule):
    def __init__(self, lr: float = 3e-3, width: int = 32):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(0.1),
            nn.Linear(2 * width, 10),
        )
        self.val_acc = MulticlassAccuracy(10, average="micro")
        self.test_acc = MulticlassAccuracy(10, average="micro")

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self.net(x), y)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.val_acc(self.net(x), y)
        self.log("val/acc", self.val_acc, prog_bar=True)

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.test_acc(self.net(x), y)
        self.log("test/acc", self.test_acc)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=1e-4)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.trainer.estimated_stepping_batches)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine, "interval": "step"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs_dir", default="runs")
    parser.add_argument("--trainer.max_epochs", dest="max_epochs", type=int, default=12)
    args = parser.parse_args()
    pl.seed_everything(0)
    logger = TensorBoardLogger(args.runs_dir, name="baseline")
    checkpoints = ModelCheckpoint(monitor="val/acc", mode="max", save_last=True)
    trainer = pl.Trainer(max_epochs=args.max_epochs, logger=logger, callbacks=[checkpoints], log_every_n_steps=10)
    model, data = Classifier(), Digits()
    trainer.fit(model, datamodule=data)
    metrics = trainer.test(model, datamodule=data, ckpt_path="best")[0]
    results = Path(logger.log_dir) / "results.json"
    results.write_text(json.dumps({"metrics": metrics}), encoding="utf-8")
    print(f"results: {results}")  # the line bench/benchlib.py's run_timed reads


if __name__ == "__main__":
    main()

"""The training system: steps, metrics and optimizers around a plain backbone network."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from lightning_utilities.core.rank_zero import rank_zero_only
from pytorch_lightning import LightningModule
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from litproj.errors import UserError
from litproj.nets import build_backbone


class ImageClassifier(LightningModule):
    """Classifies images with any backbone from :mod:`litproj.nets` (or your own by import path).

    Args:
        backbone: registered name (``small_cnn``, ``resnet18``) or dotted import path of an ``nn.Module``.
        num_classes: number of classes; labels must lie in ``[0, num_classes)``.
        in_channels: image channels the backbone expects.
        image_size: side of the (square) input image; used for ``example_input_array`` and shape checks.
        lr: learning rate handed to the optimizer (overrides any ``lr`` in ``optimizer``'s init args).
        weight_decay: weight decay handed to the optimizer.
        label_smoothing: cross-entropy label smoothing.
        optimizer: optimizer class and init args (LightningCLI dependency injection).
        scheduler: LR scheduler class and init args; ``None`` anneals the LR with a per-step cosine
            to zero over the whole fit, which needs no knowledge of the epoch count in the config.
        channels_last: NHWC memory layout for the backbone (convolutions then take inputs in it too);
            faster convolutions with bf16/fp16 on tensor-core GPUs, usually slower on CPU.
    """

    def __init__(
        self,
        backbone: str = "small_cnn",
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 8,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        label_smoothing: float = 0.0,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        scheduler: LRSchedulerCallable | None = None,
        channels_last: bool = False,
    ):
        super().__init__()
        if not lr > 0 or weight_decay < 0:  # `not lr > 0` also catches NaN
            name, value = ("lr", lr) if not lr > 0 else ("weight_decay", weight_decay)
            raise UserError(f"--model.{name} must be {'> 0' if name == 'lr' else '>= 0'} (got {value}).")
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.net = build_backbone(backbone, in_channels=in_channels, num_classes=num_classes)
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.example_input_array = torch.zeros(2, in_channels, image_size, image_size)
        # Labels are range-checked once when the data is set up; per-step validation would add a device
        # sync (torch.unique) to every step on a GPU.
        metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(num_classes, average="micro", validate_args=False),
                "f1": MulticlassF1Score(num_classes, average="macro", validate_args=False),
            }
        )
        self.train_metrics = metrics.clone(prefix="train/")
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.test_confusion = MulticlassConfusionMatrix(num_classes, validate_args=False)
        # The epoch's training loss, summed per sample (plain tensors: cheaper per step than a metric object).
        self._train_loss_sum: torch.Tensor | float = 0.0
        self._train_samples = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _shared_step(self, batch, stage: str, metrics: MetricCollection) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.hparams.label_smoothing)
        metrics.update(logits, y)
        if stage == "train":
            self._log_train_loss(loss.detach(), len(y))
            return loss
        self.log(f"{stage}/loss", loss, on_epoch=True, sync_dist=True, batch_size=len(y))
        return logits

    def _log_train_loss(self, loss: torch.Tensor, batch_size: int) -> None:
        """Sum the loss for the epoch mean; hand Lightning the step loss only on steps its loggers write.

        Each ``self.log`` call makes Lightning move and update its result object, which costs about as
        much as a tenth of a small network's step; the loggers only write every ``log_every_n_steps``
        steps (the same rule as Lightning's), and the progress bar shows the latest logged loss.
        """
        self._train_loss_sum = self._train_loss_sum + loss * batch_size
        self._train_samples += batch_size
        every = self.trainer.log_every_n_steps
        if self.trainer.fast_dev_run or (every and (self.trainer.global_step + 1) % every == 0):
            self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=batch_size)

    def on_train_epoch_start(self) -> None:
        self._train_loss_sum, self._train_samples = 0.0, 0

    def _log_epoch_metrics(self, metrics: MetricCollection, prog_bar: bool = False) -> None:
        """Compute (synced across ranks by torchmetrics) and log the epoch's metrics, then reset them.

        Logging the metric objects from every step would make Lightning move and inspect them on each
        ``self.log`` call, which costs more than a small network's step; computing here costs once per epoch.
        ``sync_dist`` only averages values that are already equal on every rank (and silences the warning).
        """
        if any(metric.update_called for metric in metrics.values()):
            self.log_dict(metrics.compute(), prog_bar=prog_bar, sync_dist=True)
        metrics.reset()

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train", self.train_metrics)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "val", self.val_metrics)

    def test_step(self, batch, batch_idx: int) -> None:
        logits = self._shared_step(batch, "test", self.test_metrics)
        self.test_confusion.update(logits, batch[1])

    def on_train_epoch_end(self) -> None:
        if self._train_samples:
            mean = self._train_loss_sum / self._train_samples
            self.log("train/loss_epoch", mean, sync_dist=True)  # every rank saw as many samples: mean of means
        self._log_epoch_metrics(self.train_metrics)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_metrics(self.val_metrics, prog_bar=True)

    def on_test_epoch_end(self) -> None:
        self._log_epoch_metrics(self.test_metrics)
        matrix = self.test_confusion.compute()
        self.test_confusion.reset()
        self._log_confusion_matrix(matrix)

    @rank_zero_only
    def _log_confusion_matrix(self, matrix: torch.Tensor) -> None:
        from litproj.tracking.plots import log_confusion_matrix

        names = getattr(self.trainer.datamodule, "class_names", None)
        log_confusion_matrix(self.trainer, matrix, names)

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        return torch.softmax(self(x), dim=-1)

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        if self.scheduler_factory is not None:
            return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}
        total_steps = max(1, int(self.trainer.estimated_stepping_batches))
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine, "interval": "step"}}

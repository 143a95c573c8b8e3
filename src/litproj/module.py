"""The example LightningModule: an image classifier around a backbone network. Copy it and make it yours."""

from __future__ import annotations

from typing import Literal

import torch
from pytorch_lightning import LightningModule
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from litproj.errors import UserError
from litproj.nets import build_backbone
from litproj.nets.finetuning import FreezeBackbone, param_groups
from litproj.tracking.plots import log_confusion_matrix


class ImageClassifier(LightningModule):
    """Classifies images with any backbone from :mod:`litproj.nets` (or your own by import path).

    Args:
        backbone: registered name (``small_cnn``, ``resnet18``), ``torchvision:NAME``, ``timm:NAME`` or dotted
            import path of an ``nn.Module``.
        num_classes: number of classes; labels must lie in ``[0, num_classes)``.
        in_channels: image channels the backbone expects.
        image_size: side of the (square) input image, for ``example_input_array``.
        lr: learning rate handed to the optimizer (overrides any ``lr`` in ``optimizer``'s init args).
        weight_decay: weight decay handed to the optimizer.
        label_smoothing: cross-entropy label smoothing.
        optimizer: optimizer class and init args (LightningCLI dependency injection).
        scheduler: LR scheduler class and init args; ``None`` anneals the LR with a per-step cosine to zero
            over the whole fit.
        channels_last: NHWC memory layout for the backbone: faster convolutions with bf16/fp16 on
            tensor-core GPUs, usually slower on CPU.
        pretrained: start from the library's weights (``torchvision:``/``timm:`` backbones).
        weights: start from a local file: a state_dict or a checkpoint (head and stem adapted if needed).
        freeze_backbone_epochs: train only the head for this many epochs, then everything.
        backbone_lr_scale: the backbone's learning rate relative to ``lr`` (e.g. 0.1 when fine-tuning).
        compile: ``torch.compile`` the backbone in place (state_dict keys unchanged).
        compile_mode: ``torch.compile``'s mode.
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
        pretrained: bool = False,
        weights: str | None = None,
        freeze_backbone_epochs: int = 0,
        backbone_lr_scale: float = 1.0,
        compile: bool = False,
        compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = "default",
    ):
        super().__init__()
        if not lr > 0:  # also catches NaN
            raise UserError(f"--model.lr must be > 0 (got {lr}).")
        if weight_decay < 0:
            raise UserError(f"--model.weight_decay must be >= 0 (got {weight_decay}).")
        if freeze_backbone_epochs < 0 or not backbone_lr_scale > 0:
            raise UserError("--model.freeze_backbone_epochs must be >= 0 and --model.backbone_lr_scale > 0.")
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.net = build_backbone(backbone, in_channels, num_classes, pretrained=pretrained, weights=weights)
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        if compile:
            self.net.compile(mode=compile_mode)
        self.example_input_array = torch.zeros(2, in_channels, image_size, image_size)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        # validate_args=False: the data module checks the labels once; checking every batch syncs the GPU.
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
        self.test_per_class = MetricCollection(
            {
                "acc": MulticlassAccuracy(num_classes, average=None, validate_args=False),
                "f1": MulticlassF1Score(num_classes, average=None, validate_args=False),
            }
        )

    def setup(self, stage: str) -> None:
        weights = getattr(self.trainer.datamodule, "class_weights", None)  # --data.balance loss
        if weights is not None:  # a buffer follows the model's device; not saved, as the data sets it each run
            self.criterion.register_buffer("weight", weights.to(self.device), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = self.criterion(logits, y)  # y: class indices, or class probabilities under --data.mixup/cutmix
        self.train_metrics.update(logits, y if y.ndim == 1 else y.argmax(-1))
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.val_metrics.update(logits, y)
        self.log("val/loss", self.criterion(logits, y), sync_dist=True)

    def test_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.test_metrics.update(logits, y)
        self.test_confusion.update(logits, y)
        self.test_per_class.update(logits, y)
        self.log("test/loss", self.criterion(logits, y), sync_dist=True)

    # The metric objects are updated in the steps and logged once per epoch: each self.log call costs Lightning
    # about as much as a small network's step (bench/overhead.py: 8 % of the digits fit when logged per step).
    def on_train_epoch_end(self) -> None:
        self.log_dict(self.train_metrics)

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.val_metrics, prog_bar=True)

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics)
        names = getattr(self.trainer.datamodule, "class_names", None) or range(self.hparams.num_classes)
        per_class = self.test_per_class.compute()  # on every rank, as the matrix below
        self.test_per_class.reset()
        self.log_dict(
            {f"test/{k}_{n}": v for k, values in per_class.items() for n, v in zip(names, values, strict=False)}
        )
        matrix = self.test_confusion.compute()  # on every rank: it gathers the counts
        self.test_confusion.reset()
        if self.trainer.is_global_zero:
            log_confusion_matrix(self.trainer, matrix, getattr(self.trainer.datamodule, "class_names", None))

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        return torch.softmax(self(x), dim=-1)

    def configure_optimizers(self):
        groups = param_groups(self, self.net, self.hparams.lr, self.hparams.backbone_lr_scale)
        optimizer = self.optimizer_factory(groups, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        if self.scheduler_factory is not None:
            return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}
        total_steps = max(1, int(self.trainer.estimated_stepping_batches))
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine, "interval": "step"}}

    def configure_callbacks(self):
        epochs = self.hparams.freeze_backbone_epochs
        return [FreezeBackbone(epochs, attribute="net")] if epochs else []

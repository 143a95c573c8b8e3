"""Fine-tuning: train the classifier head alone for a few epochs, then the whole network at a lower rate.

Built on Lightning's ``BaseFinetuning``, with two choices that make it compose with resume, DDP and any scheduler:
the backbone sits in the optimizer from the start, in its own group (:func:`param_groups`), so unfreezing only
flips ``requires_grad`` (frozen parameters get no gradient and optimizers skip them: no param group appears mid-run
for a scheduler or a resumed optimizer to miss). And DDP registers only the parameters that need gradients when it
wraps the model (Lightning issue #20340), so after unfreezing the backbone's gradients are averaged here.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from pytorch_lightning.callbacks import BaseFinetuning
from pytorch_lightning.strategies import DDPStrategy
from torch import nn

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.nets.layers import head_name


def split_head(net: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(backbone, head)`` parameters of ``net``; the head is its classifier (:func:`head_name`)."""
    head = net.get_submodule(head_name(net))
    head_ids = {id(p) for p in head.parameters()}
    backbone = [p for p in net.parameters() if id(p) not in head_ids]
    return backbone, list(head.parameters())


def param_groups(module: nn.Module, net: nn.Module, lr: float, backbone_lr_scale: float = 1.0) -> list[dict]:
    """Optimizer groups: ``net``'s backbone at ``lr * backbone_lr_scale``, everything else of ``module`` at ``lr``."""
    if backbone_lr_scale == 1.0:
        return [{"params": list(module.parameters())}]
    backbone, _ = split_head(net)
    backbone_ids = {id(p) for p in backbone}
    rest = [p for p in module.parameters() if id(p) not in backbone_ids]
    return [{"params": rest}, {"params": backbone, "lr": lr * backbone_lr_scale}]


class FreezeBackbone(BaseFinetuning):
    """Freezes everything but the head of ``pl_module.<attribute>`` for the first ``epochs`` epochs.

    Works on any LightningModule that keeps its network in one attribute (for a lower backbone rate, give the
    optimizer :func:`param_groups`): ``--trainer.callbacks+ {{ cookiecutter.package_name }}.nets.finetuning.FreezeBackbone``.

    Args:
        epochs: epochs that train the head alone; the backbone trains from epoch ``epochs`` on.
        attribute: the LightningModule attribute holding the network (``net`` in ``ImageClassifier``).
        train_bn: keep BatchNorm layers learning while frozen; ``False`` leaves their weights and statistics as
            loaded and normalises with those statistics in training too (what a pretrained backbone needs).
    """

    NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)

    def __init__(self, epochs: int = 1, attribute: str = "net", train_bn: bool = False):
        super().__init__()
        if epochs < 0:
            raise UserError(f"FreezeBackbone: epochs must be >= 0 (got {epochs}).")
        self.epochs, self.attribute, self.train_bn = epochs, attribute, train_bn
        self._frozen: list[nn.Parameter] = []  # what DDP does not see: frozen when it wrapped the model
        self._frozen_norms: list[nn.Module] = []

    def backbone_of(self, pl_module: pl.LightningModule) -> list[nn.Module]:
        """The leaf modules of the network outside its head."""
        net = getattr(pl_module, self.attribute, None)
        if not isinstance(net, nn.Module):
            raise UserError(
                f"FreezeBackbone: {type(pl_module).__name__} has no network in attribute '{self.attribute}'; pass "
                "attribute=<the attribute holding your nn.Module>."
            )
        head = set(net.get_submodule(head_name(net)).modules())
        return [m for m in self.flatten_modules(net) if m not in head]

    def freeze_before_training(self, pl_module: pl.LightningModule) -> None:
        if self.epochs > 0:  # a resumed run past the frozen epochs is unfrozen again at its first epoch start
            modules = self.backbone_of(pl_module)
            self.freeze(modules, train_bn=self.train_bn)
            self._frozen = [p for m in modules for p in m.parameters(recurse=False) if not p.requires_grad]
            self._frozen_norms = [] if self.train_bn else [m for m in modules if isinstance(m, self.NORMS)]

    def finetune_function(self, pl_module: pl.LightningModule, epoch: int, optimizer: torch.optim.Optimizer) -> None:
        if epoch >= self.epochs and any(not p.requires_grad for p in self._frozen):
            self.make_trainable(self.backbone_of(pl_module))
            for norm in self._frozen_norms:
                norm.train()
            self._frozen_norms = []

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        """Frozen BatchNorm layers normalise with their loaded statistics: ``freeze(train_bn=False)`` leaves them in
        train mode, normalising with each batch's statistics that validation never sees. Each batch, since
        ``on_validation_model_train`` may put the whole model back in train mode."""
        for norm in self._frozen_norms:
            if norm.training:
                norm.eval()

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if not (isinstance(trainer.strategy, DDPStrategy) and trainer.world_size > 1 and dist.is_initialized()):
            return
        grads = [p.grad for p in self._frozen if p.requires_grad and p.grad is not None]
        if grads:  # one flat all-reduce, as DDP's buckets would do
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            for g, reduced in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
                g.copy_(reduced.view_as(g) / trainer.world_size)

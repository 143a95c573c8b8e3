"""What a LightningModule's ``configure_model`` does under each strategy (one call from the module).

The module stays strategy-agnostic: it calls :func:`configure_backbone` and gets its backbone sharded
(fsdp), cut into placed stages (model_split), or left alone (auto, ddp, ddp_spawn).
"""

from __future__ import annotations

from pytorch_lightning import LightningModule

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.strategies.fsdp import FullyShardedStrategy, shard_backbone
from {{ cookiecutter.package_name }}.strategies.split import ModelSplitStrategy, split_module


def configure_backbone(module: LightningModule, attribute: str = "net") -> None:
    """Shard or split ``module.<attribute>`` for the trainer's strategy; sets ``module.pipeline`` when split."""
    strategy = module.trainer.strategy
    net = getattr(module, attribute)
    if isinstance(strategy, FullyShardedStrategy):
        shard_backbone(net, strategy)
    elif isinstance(strategy, ModelSplitStrategy):
        module.pipeline = split_module(module, net, strategy)
    elif getattr(module, "split_devices", None) or getattr(module, "micro_batches", 1) > 1:
        raise UserError(
            "--model.split_devices / --model.micro_batches need the model_split strategy: add --strategy model_split "
            f"(this run uses {type(strategy).__name__})."
        )

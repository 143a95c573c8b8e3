"""For a LightningModule that overrides ``configure_model`` (so is not sharded by the fsdp preset itself)."""

from __future__ import annotations

from pytorch_lightning import LightningModule

from litproj.strategies.fsdp import FullyShardedStrategy, shard_backbone


def configure_backbone(module: LightningModule, attribute: str = "net") -> None:
    """Shard ``module.<attribute>`` with the fsdp preset's options; do nothing under other strategies."""
    if isinstance(module.trainer.strategy, FullyShardedStrategy):
        shard_backbone(getattr(module, attribute), module.trainer.strategy)

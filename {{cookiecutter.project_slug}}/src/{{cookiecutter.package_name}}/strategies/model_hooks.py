"""For a LightningModule that writes its own ``configure_model``: shard a named backbone under ``--strategy fsdp``.

Most modules need nothing from here: :class:`~{{ cookiecutter.package_name }}.strategies.FullyShardedStrategy` shards a module that
does not override ``configure_model``, and :class:`~{{ cookiecutter.package_name }}.strategies.ModelSplitStrategy` splits any module
without a hook. A module that overrides ``configure_model`` (to build layers late, say) shards itself, and
can call :func:`configure_backbone` there to get the fsdp preset's options applied to one attribute.
"""

from __future__ import annotations

from pytorch_lightning import LightningModule

from {{ cookiecutter.package_name }}.strategies.fsdp import FullyShardedStrategy, shard_backbone


def configure_backbone(module: LightningModule, attribute: str = "net") -> None:
    """Shard ``module.<attribute>`` with the strategy's options under fsdp; do nothing under other strategies."""
    strategy = module.trainer.strategy
    if isinstance(strategy, FullyShardedStrategy):
        shard_backbone(getattr(module, attribute), strategy)

"""FSDP2 (``fully_shard``) for any LightningModule, on CPU (gloo) and GPU (NCCL) through the same code.

Lightning's ``FSDPStrategy`` wraps the older FSDP1 and refuses CPU. Its ``ModelParallelStrategy`` drives FSDP2
but shards nothing itself (the module's ``configure_model`` must) and by default gives one node to tensor
parallelism. This strategy makes the whole world one data-parallel group and gives a module without
``configure_model`` :func:`shard_module` as that hook, so Lightning calls it at the usual point.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.collectives.torch_collective import default_pg_timeout
from pytorch_lightning import LightningModule
from pytorch_lightning.strategies import ModelParallelStrategy
from pytorch_lightning.utilities.model_helpers import is_overridden
from torch import nn
from torch.utils.checkpoint import checkpoint

from litproj.errors import UserError
from litproj.reliability.checkpointing import replace_folder, staging_path

WrapPolicy = int | str | list[str]  # int first: jsonargparse would keep "1000" a str


class FullyShardedStrategy(ModelParallelStrategy):
    """FSDP2 over all devices of all nodes (data parallel size = world size, no tensor parallelism).

    Args:
        wrap_policy: the submodules that become their own FSDP unit (gathered just before they run):
            ``"children"`` (each child with parameters of the backbone, else of the module), a minimum
            parameter count (innermost modules holding that many), or a list of class names.
        param_dtype: FSDP mixed precision (``"bfloat16"``): parameters gathered and used in this dtype,
            gradients reduced and the optimizer stepped in float32.
        activation_checkpointing: recompute each unit's activations in backward instead of storing them.
        reshard_after_forward: ``False`` keeps gathered parameters until backward (faster, more memory).
        save_distributed_checkpoint: ``False`` gathers a single ``.ckpt`` file on rank 0.
        process_group_backend: ``None`` picks gloo on CPU and NCCL on GPU.
        timeout: timeout of collective operations.
    """

    def __init__(
        self,
        wrap_policy: WrapPolicy = "children",
        param_dtype: str | None = None,
        activation_checkpointing: bool = False,
        reshard_after_forward: bool = True,
        save_distributed_checkpoint: bool = True,
        process_group_backend: str | None = None,
        timeout: timedelta | None = default_pg_timeout,
    ) -> None:
        super().__init__(
            data_parallel_size="auto",
            tensor_parallel_size=1,
            save_distributed_checkpoint=save_distributed_checkpoint,
            process_group_backend=process_group_backend,
            timeout=timeout,
        )
        self.wrap_policy = wrap_policy
        self.param_dtype = _dtype(param_dtype)
        self.activation_checkpointing = activation_checkpointing
        self.reshard_after_forward = reshard_after_forward
        self.save_distributed_checkpoint = save_distributed_checkpoint

    def setup_environment(self) -> None:
        # The process count is known only now; the public data_parallel_size needs it at construction.
        self._data_parallel_size = self.num_nodes * self.num_processes
        super().setup_environment()

    def save_checkpoint(self, checkpoint: dict[str, Any], filepath, storage_options: Any | None = None) -> None:
        """A sharded save goes to a fresh folder beside ``filepath`` (every rank its shard), renamed over the old one
        by rank 0 once all have written: a kill mid-save leaves the previous checkpoint whole (Lightning writes the
        shards into the existing folder). Single-file saves stay Lightning's."""
        if not self.save_distributed_checkpoint or storage_options is not None:
            return super().save_checkpoint(checkpoint, filepath, storage_options)
        path = Path(self.broadcast(str(filepath)))
        staged = Path(self.broadcast(str(staging_path(path))))  # rank 0's name, so every rank writes one folder
        super().save_checkpoint(checkpoint, staged)
        self.barrier("sharded checkpoint written")
        if self.is_global_zero:
            replace_folder(staged, path)
        self.barrier("sharded checkpoint renamed")

    def connect(self, model: LightningModule) -> None:
        super().connect(model)
        if not is_overridden("configure_model", model):  # ModelParallelStrategy refuses a module without it
            model.configure_model = types.MethodType(_configure_model, model)


def _configure_model(module: LightningModule) -> None:
    if isinstance(module.trainer.strategy, FullyShardedStrategy):
        shard_module(module, module.trainer.strategy)


_configure_model.__name__ = "configure_model"  # a pickled module finds the hook by this name


def _dtype(name: str | None) -> torch.dtype | None:
    value = None if name is None else getattr(torch, name.removeprefix("torch."), None)
    if name is not None and not (isinstance(value, torch.dtype) and value.is_floating_point):
        raise UserError(f"--trainer.strategy.param_dtype: '{name}' is not a floating dtype; use bfloat16 or float16.")
    return value


def holds_params(module: nn.Module, recurse: bool = True) -> bool:
    return next(module.parameters(recurse), None) is not None


def wrap_units(net: nn.Module, policy: WrapPolicy) -> list[nn.Module]:
    """The submodules of ``net`` that become their own FSDP unit, innermost first (``net`` itself excluded)."""
    if policy == "children":
        return [m for m in net.children() if holds_params(m)]
    inner_first = [m for m in reversed(list(net.modules())) if m is not net and holds_params(m)]
    if isinstance(policy, int) and not isinstance(policy, bool):
        units: list[nn.Module] = []
        covered: set[int] = set()
        for module in inner_first:  # a unit once the parameters not yet inside a unit reach the threshold
            if sum(p.numel() for p in module.parameters() if id(p) not in covered) >= policy:
                units.append(module)
                covered.update(id(p) for p in module.parameters())
        return units
    if isinstance(policy, list):
        return [
            m for m in inner_first if {type(m).__name__, f"{type(m).__module__}.{type(m).__qualname__}"} & {*policy}
        ]
    raise UserError(
        f"--trainer.strategy.wrap_policy: '{policy}' is not 'children', a parameter count or a list of class names."
    )


def backbone(module: nn.Module) -> nn.Module | None:
    """The single child that holds every parameter of ``module`` (``net``, ``model``), or ``None``."""
    holders = [child for child in module.children() if holds_params(child)]
    return holders[0] if len(holders) == 1 and not holds_params(module, recurse=False) else None


def shard_module(module: nn.Module, strategy: FullyShardedStrategy) -> None:
    """Shard its backbone as :func:`shard_backbone` does; without one, the wrap units among its submodules,
    then each direct child holding parameters."""
    net = backbone(module)
    if net is not None:
        return shard_backbone(net, strategy)
    own = [name for name, _ in module.named_parameters(recurse=False)]
    if own:
        raise UserError(
            f"--strategy fsdp: {type(module).__name__} holds parameters itself ({', '.join(own)}); move them into a "
            "submodule, or shard the module in its own configure_model."
        )
    shard_backbone(module, strategy, roots=[c for c in module.children() if holds_params(c)])


def shard_backbone(net: nn.Module, strategy: FullyShardedStrategy, roots: list[nn.Module] | None = None) -> None:
    """Apply activation checkpointing and ``fully_shard`` to the units of ``net``, then to ``roots`` (``net``)."""
    from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

    roots = [net] if roots is None else roots
    if any(isinstance(root, FSDPModule) for root in roots):  # Lightning configures again for test after fit
        return
    precision = MixedPrecisionPolicy(param_dtype=strategy.param_dtype, reduce_dtype=torch.float32)
    options = {"mesh": strategy.device_mesh["data_parallel"], "reshard_after_forward": strategy.reshard_after_forward}
    for unit in wrap_units(net, strategy.wrap_policy):
        if strategy.activation_checkpointing:
            unit.forward = functools.partial(checkpoint, unit.forward, use_reentrant=False)
        if not any(unit is root for root in roots):
            fully_shard(unit, mp_policy=precision, **options)
    for root in roots:  # a root holds the parameters left outside units; its outputs return to float32 for the loss
        fully_shard(root, mp_policy=dataclasses.replace(precision, output_dtype=torch.float32), **options)

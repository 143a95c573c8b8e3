"""Fully sharded data parallel (FSDP2) that runs on CPU (gloo) and GPU (NCCL) through the same code.

Lightning's ``FSDPStrategy`` wraps the older ``FullyShardedDataParallel`` and refuses a CPU accelerator,
so it could never be tested without GPUs. FSDP2 (``torch.distributed.fsdp.fully_shard``) runs on both;
Lightning drives it through ``ModelParallelStrategy``, which expects the LightningModule's
``configure_model`` to apply the parallelisation (and refuses a module without one). This strategy makes
the whole world one data-parallel group (Lightning's ``"auto"`` would use tensor parallelism inside a
node and shard nothing) and shards any module itself: a module that does not override
``configure_model`` gets :func:`shard_module` as that hook, so Lightning calls it at the usual point, in
its usual contexts. A module that overrides ``configure_model`` shards itself (it may call
:func:`shard_module` or :func:`shard_backbone` there). The options:

* ``wrap_policy``: which submodules become their own FSDP unit (their parameters are gathered just
  before they run and freed after): ``"children"`` (every direct child of the backbone, or of the module
  when no single child holds all parameters, that holds parameters), an int (every module holding at
  least that many parameters, innermost first), or a list of class names/import paths (``BasicBlock``).
* ``param_dtype``: FSDP mixed precision; parameters are gathered and computed in this dtype
  (``bfloat16``), gradients reduced and the optimizer stepped in float32.
* ``activation_checkpointing``: recompute each unit's activations in backward instead of storing them.
"""

from __future__ import annotations

import functools
import types
from datetime import timedelta

import torch
from lightning_fabric.plugins.collectives.torch_collective import default_pg_timeout
from pytorch_lightning import LightningModule
from pytorch_lightning.strategies import ModelParallelStrategy
from pytorch_lightning.utilities.model_helpers import is_overridden
from torch import nn
from torch.utils.checkpoint import checkpoint

from {{ cookiecutter.package_name }}.errors import UserError

WrapPolicy = str | int | list[str]


class FullyShardedStrategy(ModelParallelStrategy):
    """FSDP2 over all devices of all nodes (data parallel size = world size, no tensor parallelism).

    Args:
        wrap_policy: ``"children"``, a minimum parameter count, or a list of module class names.
        param_dtype: ``None`` (full precision), ``"bfloat16"`` or ``"float16"`` for FSDP mixed precision.
        activation_checkpointing: recompute the activations of each wrapped unit during backward.
        reshard_after_forward: free gathered parameters after forward (ZeRO-3); ``False`` keeps them until
            backward (ZeRO-2-like: faster, more memory).
        save_distributed_checkpoint: each rank saves its shard (the checkpoint is a folder); ``False``
            gathers a single ``.ckpt`` file on rank 0.
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

    def setup_environment(self) -> None:
        # One data-parallel group spanning every process: the whole point is to shard across all of them.
        self._data_parallel_size = self.num_nodes * self.num_processes
        super().setup_environment()

    def connect(self, model: LightningModule) -> None:
        super().connect(model)
        if not is_overridden("configure_model", model):
            # ModelParallelStrategy.setup refuses a module without configure_model, and Lightning calls that hook
            # (in its init contexts) before setup: the strategy's sharding becomes the module's hook.
            model.configure_model = types.MethodType(_configure_model, model)


def _configure_model(module: LightningModule) -> None:
    """``configure_model`` of a module that does not shard itself: shard it under a FullyShardedStrategy."""
    strategy = module.trainer.strategy
    if isinstance(strategy, FullyShardedStrategy):
        shard_module(module, strategy)


_configure_model.__name__ = "configure_model"  # a pickled module finds the hook by this name


def _dtype(name: str | None) -> torch.dtype | None:
    if name is None:
        return None
    value = getattr(torch, name.removeprefix("torch."), None)
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise UserError(f"--trainer.strategy.param_dtype: '{name}' is not a floating dtype; use bfloat16 or float16.")
    return value


def _class_matches(module: nn.Module, names: list[str]) -> bool:
    cls = type(module)
    return any(name in (cls.__name__, f"{cls.__module__}.{cls.__qualname__}") for name in names)


def wrap_units(net: nn.Module, policy: WrapPolicy) -> list[nn.Module]:
    """The submodules of ``net`` that become their own FSDP unit, innermost first (``net`` itself excluded)."""
    has_params = [m for m in net.modules() if m is not net and any(True for _ in m.parameters())]
    if policy == "children":
        return [m for m in net.children() if any(True for _ in m.parameters())]
    if isinstance(policy, int) and not isinstance(policy, bool):
        units: list[nn.Module] = []
        covered: set[int] = set()
        # Post-order: a module is a unit when the parameters not yet inside a unit reach the threshold.
        for module in reversed(has_params):
            free = sum(p.numel() for p in module.parameters() if id(p) not in covered)
            if free >= policy:
                units.append(module)
                covered.update(id(p) for p in module.parameters())
        return units
    if isinstance(policy, list):
        return [m for m in reversed(has_params) if _class_matches(m, policy)]
    raise UserError(
        f"--trainer.strategy.wrap_policy: '{policy}' is not 'children', a parameter count or a list of class names."
    )


def _holds_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def backbone(module: nn.Module) -> nn.Module | None:
    """The single child that holds every parameter of ``module`` (``net``, ``model``), or ``None``."""
    holders = [child for child in module.children() if _holds_params(child)]
    own = any(True for _ in module.parameters(recurse=False))
    return holders[0] if len(holders) == 1 and not own else None


def checkpoint_activations(module: nn.Module) -> None:
    """Recompute ``module``'s activations in backward (``torch.utils.checkpoint``, non-reentrant)."""
    forward = module.forward
    module.forward = functools.partial(checkpoint, forward, use_reentrant=False)


def shard_module(module: nn.Module, strategy: FullyShardedStrategy) -> None:
    """Shard any module: its backbone (the single child holding every parameter) as :func:`shard_backbone`
    does; without one, each wrap unit among its submodules, then each direct child holding parameters.

    Idempotent: Lightning calls ``configure_model`` again for every stage (fit, then test).
    """
    net = backbone(module)
    if net is not None:
        shard_backbone(net, strategy)
        return
    own = [name for name, _ in module.named_parameters(recurse=False)]
    if own:
        raise UserError(
            f"--strategy fsdp: {type(module).__name__} holds parameters itself ({', '.join(own)}); move them into a "
            "submodule, or shard the module in its own configure_model."
        )
    roots = [child for child in module.children() if _holds_params(child)]
    _shard(roots, wrap_units(module, strategy.wrap_policy), strategy)


def shard_backbone(net: nn.Module, strategy: FullyShardedStrategy) -> None:
    """Apply activation checkpointing and ``fully_shard`` to the units of ``net``, then to ``net`` itself."""
    _shard([net], wrap_units(net, strategy.wrap_policy), strategy)


def _shard(roots: list[nn.Module], units: list[nn.Module], strategy: FullyShardedStrategy) -> None:
    from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

    if any(isinstance(root, FSDPModule) for root in roots):
        return
    mesh = strategy.device_mesh["data_parallel"]
    precision = MixedPrecisionPolicy(param_dtype=strategy.param_dtype, reduce_dtype=torch.float32)
    options = {"mesh": mesh, "mp_policy": precision, "reshard_after_forward": strategy.reshard_after_forward}
    for unit in units:
        if strategy.activation_checkpointing:
            checkpoint_activations(unit)
        if not any(unit is root for root in roots):
            fully_shard(unit, **options)
    # A root holds the parameters left outside units; its outputs go back to float32 for the loss.
    root_precision = MixedPrecisionPolicy(
        param_dtype=strategy.param_dtype, reduce_dtype=torch.float32, output_dtype=torch.float32
    )
    for root in roots:
        fully_shard(root, **{**options, "mp_policy": root_precision})

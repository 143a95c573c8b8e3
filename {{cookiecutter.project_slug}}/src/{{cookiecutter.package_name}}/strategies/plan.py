"""``--plan``: the resolved trainer settings and a per-device memory estimate for every strategy, without training.

The estimate counts what each strategy keeps on one device during a training step: parameters, gradients,
optimizer state (measured by stepping the configured optimizer once) and the activations of one batch
(measured by a forward pass on the meta device, so nothing is computed or allocated). It ignores
framework overhead, temporary buffers and fragmentation: treat it as a lower bound to compare strategies.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from {{ cookiecutter.package_name }}.strategies.fsdp import FullyShardedStrategy, wrap_units
from {{ cookiecutter.package_name }}.strategies.split import Pipeline, default_devices

GiB = 1024**3
CAPTION = "ddp: full replica + gradient buckets; fsdp: 1/N shards + one gathered unit; model_split: largest stage"


@dataclass
class DeviceMemory:
    """Bytes one device holds under a strategy (the most loaded device, for model_split)."""

    strategy: str
    devices: int
    params: float
    grads: float
    optimizer: float
    activations: float

    @property
    def total(self) -> float:
        return self.params + self.grads + self.optimizer + self.activations


def optimizer_states_per_param(module) -> int:
    """How many parameter-sized tensors the configured optimizer keeps (AdamW: 2, SGD with momentum: 1)."""
    probe = nn.Parameter(torch.zeros(1000))
    factory = getattr(module, "optimizer_factory", None)
    if factory is None:
        return 2
    optimizer = factory([probe], lr=1e-3)
    probe.grad = torch.ones_like(probe)
    optimizer.step()
    return sum(1 for v in optimizer.state[probe].values() if torch.is_tensor(v) and v.numel() == probe.numel())


def activation_bytes(net: nn.Module, batch: torch.Size, bytes_per_element: int) -> dict[int, float]:
    """Output bytes of every leaf module for one forward pass of ``batch``, keyed by ``id`` of the module."""
    meta = copy.deepcopy(net).to("meta")
    originals = dict(zip((id(m) for m in meta.modules()), (id(m) for m in net.modules()), strict=True))
    sizes: dict[int, float] = {}

    def record(module, inputs, output):
        if torch.is_tensor(output):
            sizes[originals[id(module)]] = float(output.numel() * bytes_per_element)

    hooks = [m.register_forward_hook(record) for m in meta.modules() if not list(m.children())]
    with torch.no_grad():
        meta.train()(torch.empty(batch, device="meta"))
    for hook in hooks:
        hook.remove()
    return sizes


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _within(module: nn.Module, sizes: dict[int, float]) -> float:
    return sum(sizes.get(id(m), 0.0) for m in module.modules())


def estimate(net, batch, world: int, stages: list[str], fsdp: FullyShardedStrategy | None, states: int, act_bytes):
    """Per-device memory for single-device, ddp, fsdp and model_split with the same per-device batch."""
    params = _numel(net)
    element = next(net.parameters()).element_size() if params else 4
    sizes = activation_bytes(net, batch, act_bytes)
    activations = sum(sizes.values())
    weights = params * element
    rows = [
        DeviceMemory("auto", 1, weights, weights, states * weights, activations),
        # DDP keeps a full replica and a second copy of the gradients in its all-reduce buckets.
        DeviceMemory("ddp", world, weights, 2 * weights, states * weights, activations),
    ]
    policy = fsdp.wrap_policy if fsdp is not None else "children"
    units = wrap_units(net, policy)
    largest = max((_numel(u) for u in units), default=params) * element
    shard = weights / world
    fsdp_acts = activations
    if fsdp is not None and fsdp.activation_checkpointing and units:
        # A checkpointed unit keeps only its output (its last layer's); one unit's internals are rebuilt at a time.
        outputs = sum(sizes.get(id(list(u.modules())[-1]), 0.0) for u in units)
        fsdp_acts += outputs + max(_within(u, sizes) for u in units) - sum(_within(u, sizes) for u in units)
    # A gathered unit's full parameters (and, in backward, its full gradients) exist briefly on every rank.
    rows.append(DeviceMemory("fsdp", world, shard + largest, shard + largest, states * shard, fsdp_acts))
    pipeline = Pipeline.cut(net, stages)
    loads = [(_numel(stage) * element, _within(stage, sizes)) for stage in pipeline.stages]
    stage_weights, stage_acts = max(loads, key=lambda load: load[0] * (2 + states) + load[1])
    rows.append(
        DeviceMemory("model_split", len(stages), stage_weights, stage_weights, states * stage_weights, stage_acts)
    )
    return rows


def _strategy_name(strategy) -> str:
    if isinstance(strategy, str):
        return strategy
    class_path = strategy.class_path if hasattr(strategy, "class_path") else type(strategy).__name__
    return {"FullyShardedStrategy": "fsdp", "ModelSplitStrategy": "model_split"}.get(
        class_path.rsplit(".", 1)[-1], class_path
    )


def _world_size(devices, accelerator: str, num_nodes: int) -> int:
    if isinstance(devices, (list, tuple)):
        per_node = len(devices)
    elif str(devices) in ("auto", "-1"):
        wants_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
        per_node = max(1, torch.cuda.device_count()) if wants_gpu else 1
    else:
        per_node = int(str(devices).split(",")[0]) if "," not in str(devices) else len(str(devices).split(","))
    return per_node * num_nodes


def _bytes(value: float) -> str:
    return f"{value / GiB:.2f} GiB" if value >= GiB else f"{value / 2**20:.1f} MiB"


def print_plan(cli, console: Console | None = None) -> dict:
    """Print the resolved settings and the memory table for ``cli``'s config; return both as a dict."""
    trainer = cli.config.trainer
    module, data = cli.model, cli.datamodule
    init = cli.config_init.trainer.strategy
    strategy = _strategy_name(init)
    world = _world_size(trainer.devices, trainer.accelerator, trainer.num_nodes)
    batch = getattr(data, "batch_size", 1)
    shape = torch.Size([batch, getattr(data, "in_channels", 3), data.image_size, data.image_size])
    precision = str(trainer.precision or "32-true")
    act_bytes = 2 if ("16" in precision) else 4
    stages = getattr(module, "split_devices", None) or default_devices("cpu")
    net = getattr(module, "net", module)
    fsdp = init if isinstance(init, FullyShardedStrategy) else None
    rows = estimate(net, shape, world, [str(s) for s in stages], fsdp, optimizer_states_per_param(module), act_bytes)
    settings = {
        "strategy": strategy if isinstance(init, str) else f"{strategy} ({type(init).__name__})",
        "accelerator": trainer.accelerator,
        "devices per node": str(trainer.devices),
        "num_nodes": trainer.num_nodes,
        "world size (processes)": world if strategy != "model_split" else 1,
        "precision": precision,
        "max_epochs": trainer.max_epochs,
        "batch per device / global": f"{batch} / {batch * (world if strategy != 'model_split' else 1)}",
        "backbone parameters": f"{_numel(net):,}",
    }
    console = console or Console(width=max(100, Console().width))  # the memory table needs ~90 columns
    table = Table(title="resolved trainer settings", show_header=False)
    table.add_column(style="bold cyan")
    table.add_column()
    for key, value in settings.items():
        table.add_row(key, str(value))
    console.print(table)
    memory = Table(title=f"memory per device, batch {batch} per device (* = chosen; lower bound)", caption=CAPTION)
    for column in ("strategy", "devices", "params", "grads", "optimizer", "activations", "total"):
        memory.add_column(column, justify="left" if column == "strategy" else "right")
    chosen = {"ddp_spawn": "ddp"}.get(strategy, strategy)
    for row in rows:
        values = (row.params, row.grads, row.optimizer, row.activations, row.total)
        marker = "*" if row.strategy == chosen else ""
        memory.add_row(
            row.strategy + marker, str(row.devices), *(_bytes(v) for v in values), style="bold" if marker else None
        )
    console.print(memory)
    return {
        "plan": {"settings": settings, "memory": {row.strategy: row.__dict__ | {"total": row.total} for row in rows}}
    }

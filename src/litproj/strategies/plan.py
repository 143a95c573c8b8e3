"""``--plan``: the resolved trainer settings and what one device holds under every strategy, without training.

Parameters, gradients, optimizer state and one batch's activations (``measure.py``); framework overhead,
temporary buffers and fragmentation are left out, so it is a lower bound to compare strategies.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from litproj.errors import UserError
from litproj.reliability.hardening import requested_devices
from litproj.strategies.chain import find_chain, numel
from litproj.strategies.fsdp import FullyShardedStrategy, backbone, wrap_units
from litproj.strategies.measure import activation_bytes, example_input, optimizer_states_per_param
from litproj.strategies.split import ModelSplitStrategy, Pipeline

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


def _within(module: nn.Module, sizes: dict[int, float]) -> float:
    return sum(sizes.get(id(m), 0.0) for m in module.modules())


def estimate(
    module: nn.Module,
    sample: torch.Tensor | None,
    world: int,
    split: Pipeline | None,
    fsdp: FullyShardedStrategy | None,
    states: int,
    act_bytes: int,
) -> list[DeviceMemory]:
    """Per-device memory for auto, ddp, fsdp and (given a ``split``) model_split at the same batch per device;
    ``sample`` is a meta tensor shaped like one batch's input (``None``: activations not counted)."""
    params = numel(module)
    element = next(module.parameters()).element_size() if params else 4
    sizes = activation_bytes(module, sample, act_bytes) if sample is not None else {}
    activations = sum(sizes.values())
    weights = params * element
    rows = [
        DeviceMemory("auto", 1, weights, weights, states * weights, activations),
        # DDP keeps a full replica and a second copy of the gradients in its all-reduce buckets.
        DeviceMemory("ddp", world, weights, 2 * weights, states * weights, activations),
    ]
    units = wrap_units(backbone(module) or module, fsdp.wrap_policy if fsdp else "children")  # as fsdp wraps
    largest = max((numel(u) for u in units), default=params) * element
    shard = weights / world
    fsdp_acts = activations
    if fsdp is not None and fsdp.activation_checkpointing and units and sizes:
        # A checkpointed unit keeps only its output (its last layer's); one unit's internals are rebuilt at a time.
        outputs = sum(sizes.get(id(list(u.modules())[-1]), 0.0) for u in units)
        fsdp_acts += outputs + max(_within(u, sizes) for u in units) - sum(_within(u, sizes) for u in units)
    # A gathered unit's full parameters (and, in backward, its full gradients) exist briefly on every rank.
    rows.append(DeviceMemory("fsdp", world, shard + largest, shard + largest, states * shard, fsdp_acts))
    if split is not None:
        loads = [[numel(stage) * element, _within(stage, sizes)] for stage in split.stages]
        loads[0][0] += (params - sum(numel(stage) for stage in split.stages)) * element  # the rest: first device
        load, acts = max(loads, key=lambda load: load[0] * (2 + states) + load[1])
        rows.append(DeviceMemory("model_split", len(split.stages), load, load, states * load, acts))
    return rows


def model_split(module: nn.Module, init) -> tuple[Pipeline | None, str | None]:
    """The stages ModelSplitStrategy would cut (with its ``stages`` and ``devices`` when it is the chosen one)."""
    split = init if isinstance(init, ModelSplitStrategy) else ModelSplitStrategy()
    try:
        return Pipeline.from_pieces(find_chain(module, split.stages).pieces, split.stage_devices()), None
    except UserError as err:
        return None, f"model_split: {err}"


def _strategy_name(strategy) -> str:
    if isinstance(strategy, str):
        return strategy
    class_path = strategy.class_path if hasattr(strategy, "class_path") else type(strategy).__name__
    short = class_path.rsplit(".", 1)[-1]
    return {"FullyShardedStrategy": "fsdp", "ModelSplitStrategy": "model_split"}.get(short, class_path)


def _world_size(devices, accelerator: str, num_nodes: int) -> int:
    per_node = requested_devices(devices)
    if per_node is None:  # auto, -1: every GPU there is
        wants_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
        per_node = max(1, torch.cuda.device_count()) if wants_gpu else 1
    return per_node * num_nodes


def _bytes(value: float) -> str:
    if value >= 2**30:
        return f"{value / 2**30:.2f} GiB"
    return f"{value / 2**20:.1f} MiB" if value >= 2**20 else f"{value / 1024:.1f} KiB"


def print_plan(cli, console: Console | None = None) -> dict:
    """Print the resolved settings and the memory table for ``cli``'s config; return both as a dict."""
    trainer = cli.config.trainer
    module, data = cli.model, cli.datamodule
    init = cli.config_init.trainer.strategy
    strategy = _strategy_name(init)
    world = _world_size(trainer.devices, trainer.accelerator, trainer.num_nodes)
    precision = str(trainer.precision or "32-true")
    sample, sample_note = example_input(module, data)
    split, split_note = model_split(module, init)
    states = optimizer_states_per_param(module)
    fsdp = init if isinstance(init, FullyShardedStrategy) else None
    per_device = functools.partial(
        estimate,
        module,
        world=world,
        split=split,
        fsdp=fsdp,
        states=2 if states is None else states,
        act_bytes=2 if "16" in precision else 4,
    )
    try:
        rows = per_device(sample)
    except Exception as err:  # a forward that cannot run on the meta device (it reads values, say)
        if sample is None:
            raise
        sample_note = f"activations: the forward failed on the meta device ({type(err).__name__}: {err})"
        rows = per_device(None)
    batch = int(sample.shape[0]) if sample is not None else getattr(data, "batch_size", "?")
    processes = world if strategy != "model_split" else 1
    settings = {
        "strategy": strategy if isinstance(init, str) else f"{strategy} ({type(init).__name__})",
        "accelerator": trainer.accelerator,
        "devices per node": str(trainer.devices),
        "num_nodes": trainer.num_nodes,
        "world size (processes)": processes,
        "precision": precision,
        "max_epochs": trainer.max_epochs,
        "batch per device / global": f"{batch} / {batch * processes if isinstance(batch, int) else '?'}",
        "parameters": f"{numel(module):,}",
    }
    notes = [note for note in (sample_note, split_note) if note]
    if states is None:
        notes.append("optimizer: assumed 2 states per parameter (AdamW); configure_optimizers could not be probed")
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
        marker = "*" if row.strategy == chosen else ""
        values = [_bytes(v) for v in (row.params, row.grads, row.optimizer, row.activations, row.total)]
        memory.add_row(row.strategy + marker, str(row.devices), *values, style="bold" if marker else None)
    console.print(memory)
    for note in notes:
        console.print(f"not estimated: {note}", markup=False, soft_wrap=True)
    memory_dict = {row.strategy: asdict(row) | {"total": row.total} for row in rows}
    return {"plan": {"settings": settings, "memory": memory_dict, "not_estimated": notes}}

"""Shapes before training: a per-layer summary (``--summary``) and a check that the backbone fits the images.

A backbone built for other images (a Linear sized for 28x28 fed 8x8 digits) otherwise fails inside the
first training step with ``mat1 and mat2 shapes cannot be multiplied``, naming neither the layer nor
the image size. One forward pass of ``example_input_array`` before training names both. A module
without an example input (most modules people bring) skips the check, and ``--summary`` then shows
its layers and parameters without shapes.
"""

from __future__ import annotations

import torch
from pytorch_lightning.utilities.model_summary import ModelSummary
from rich.console import Console
from rich.table import Table
from torch import nn

from {{ cookiecutter.package_name }}.errors import UserError


def _shape(value) -> list[int] | str:
    if isinstance(value, torch.Tensor):
        return list(value.shape)
    if isinstance(value, (list, tuple)) and value:
        return _shape(value[0])
    return "?"


#: The public classes of torch's ``_ConvNd``: the Lazy and QAT convolutions subclass these.
_CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
#: The public classes of torch's ``_BatchNorm`` (the Lazy ones do not subclass ``BatchNorm1d``/2d/3d); the
#: quantized inference BatchNorms of ``torch.ao`` are left out (nothing trains them).
_BATCH_NORMS = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.LazyBatchNorm1d,
    nn.LazyBatchNorm2d,
    nn.LazyBatchNorm3d,
    nn.SyncBatchNorm,
)


def expected_input(module: nn.Module) -> str | None:
    """What a layer accepts, in the same notation as a shape (``[*, 784]``, ``[N, 3, H, W]``)."""
    if isinstance(module, nn.Linear):
        return f"[*, {module.in_features}]"
    if isinstance(module, _CONVOLUTIONS):
        spatial = ", ".join("HWD"[: len(module.kernel_size)])
        return f"[N, {module.in_channels}, {spatial}]"
    if isinstance(module, _BATCH_NORMS):
        return f"[N, {module.num_features}, ...]"
    if isinstance(module, nn.LayerNorm):
        return f"[*, {', '.join(map(str, module.normalized_shape))}]"
    return None


def example_input(model: nn.Module):
    """The module's ``example_input_array`` (a tensor, a tuple of positional inputs or a dict of keyword
    inputs, as Lightning allows), or None when it has none."""
    example = getattr(model, "example_input_array", None)
    if isinstance(example, torch.Tensor) or (isinstance(example, (tuple, list, dict)) and example):
        return example
    return None


def _call(model: nn.Module, example):
    """``model(example)`` the way Lightning's ModelSummary calls it: tuples spread, dicts as keywords."""
    device = next(model.parameters(), torch.empty(0)).device
    moved = _to(example, device)
    if isinstance(moved, dict):
        return model(**moved)
    if isinstance(moved, (tuple, list)):
        return model(*moved)
    return model(moved)


def _to(value, device: torch.device):
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _to(v, device) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_to(v, device) for v in value)
    return value


def check_shapes(model: nn.Module, image_hint: str = "") -> None:
    """Run ``model.example_input_array`` through ``model``; on failure name the innermost layer and both shapes.

    Runs in eval mode without autograd, so BatchNorm statistics and gradients are untouched. A module
    without ``example_input_array`` has nothing to check: it is skipped.

    Raises:
        UserError: ``layer 'net.1' (Linear) expects [*, 784] but gets [2, 64] ...``.
    """
    example = example_input(model)
    if example is None:
        return
    entered: list[tuple[str, nn.Module, object]] = []

    def enter(name):
        return lambda module, args: entered.append((name, module, args))

    def leave(module, args, output):
        entered.pop()

    handles = []
    for name, module in model.named_modules():
        if name and not list(module.children()):
            handles += [module.register_forward_pre_hook(enter(name)), module.register_forward_hook(leave)]
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            _call(model, example)
    except RuntimeError as err:
        if not entered:
            raise
        name, module, args = entered[-1]
        expects = expected_input(module) or "another shape"
        fix = "Choose a backbone that fits these images (or one that pools adaptively)"
        if not image_hint:
            fix = "Size the layers for these inputs (nn.LazyLinear infers in_features)"
        raise UserError(
            f"shape check: layer '{name}' ({type(module).__name__}) expects {expects} but gets {_shape(args)} "
            f"from an input of {_shape(example)}{image_hint}. {fix}; python train.py --summary shows every "
            "layer's shapes."
        ) from err
    finally:
        model.train(training)
        for handle in handles:
            handle.remove()


def print_summary(model: nn.Module, console: Console | None = None) -> None:
    """Every layer with its input and output shape (the job torchsummary does), from Lightning's ModelSummary.

    Modules that the example input never reaches (metrics) are left out; they have no shapes to show.
    Without ``example_input_array`` Lightning's summary has no shapes at all: every layer is listed with
    its type and parameters, and the caption says how to get shapes.
    """
    example = example_input(model)
    summary = ModelSummary(model, max_depth=-1)
    columns = ("layer", "type", "input", "output", "params") if example is not None else ("layer", "type", "params")
    if example is not None:
        batch = _shape(example)
        title = f"{type(model).__name__}: layers and shapes (batch of {batch[0] if isinstance(batch, list) else '?'})"
    else:
        title = f"{type(model).__name__}: layers"
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column == "params" else "left")
    rows = zip(
        summary.layer_names, summary.layer_types, summary.in_sizes, summary.out_sizes, summary.param_nums, strict=True
    )
    for name, kind, inputs, outputs, params in rows:
        if example is None:
            table.add_row(name, kind, f"{params:,}")
        elif inputs != "?":
            table.add_row(name, kind, str(inputs), str(outputs), f"{params:,}")
    table.caption = f"{summary.total_parameters:,} parameters, {summary.trainable_parameters:,} trainable"
    console = console or Console()
    console.print(table)
    if example is None:
        console.print(
            f"no shapes: {type(model).__name__} has no example_input_array; set one in __init__ "
            "(self.example_input_array = torch.zeros(2, ...)) to see each layer's input and output shapes.",
            highlight=False,
            soft_wrap=True,
        )

"""Shapes before training: a per-layer summary (``--summary``) and a check that the backbone fits the images.

A backbone built for other images (a Linear sized for 28x28 fed 8x8 digits) otherwise fails inside the first
training step with ``mat1 and mat2 shapes cannot be multiplied``, naming neither the layer nor the image size."""

import torch
from pytorch_lightning.utilities import move_data_to_device
from pytorch_lightning.utilities.model_summary import ModelSummary
from rich.console import Console
from rich.table import Table
from torch import nn

from {{ cookiecutter.package_name }}.errors import UserError

#: Public layer classes by input notation (the Lazy and QAT convolutions subclass these, the Lazy BatchNorms do not).
_CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_BATCH_NORMS: tuple[type[nn.Module], ...] = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
_BATCH_NORMS += (nn.LazyBatchNorm1d, nn.LazyBatchNorm2d, nn.LazyBatchNorm3d)


def _shape(value) -> list[int] | str:
    if isinstance(value, torch.Tensor):
        return list(value.shape)
    if isinstance(value, (list, tuple)) and value:
        return _shape(value[0])
    return "?"


def expected_input(module: nn.Module) -> str | None:
    """What a layer accepts, in the same notation as a shape (``[*, 784]``, ``[N, 3, H, W]``)."""
    if isinstance(module, nn.Linear):
        return f"[*, {module.in_features}]"
    if isinstance(module, _CONVOLUTIONS):
        return f"[N, {module.in_channels}, {', '.join('HWD'[: len(module.kernel_size)])}]"
    if isinstance(module, _BATCH_NORMS):
        return f"[N, {module.num_features}, ...]"
    if isinstance(module, nn.LayerNorm):
        return f"[*, {', '.join(map(str, module.normalized_shape))}]"
    return None


def example_input(model: nn.Module):
    """The module's ``example_input_array`` (a tensor, a tuple or a dict of inputs), or None when it has none."""
    example = getattr(model, "example_input_array", None)
    if isinstance(example, torch.Tensor) or (isinstance(example, (tuple, list, dict)) and example):
        return example
    return None


def _call(model: nn.Module, example):
    """``model(example)`` the way Lightning's ModelSummary calls it: tuples spread, dicts as keywords."""
    moved = move_data_to_device(example, next(model.parameters(), torch.empty(0)).device)
    if isinstance(moved, dict):
        return model(**moved)
    return model(*moved) if isinstance(moved, (tuple, list)) else model(moved)


def check_shapes(model: nn.Module, image_hint: str = "") -> None:
    """Run ``model.example_input_array`` (if any) through ``model``; on failure name the innermost layer and
    both shapes. Eval mode without autograd: BatchNorm statistics and gradients are untouched."""
    example = example_input(model)
    if example is None:
        return
    leaves = {module: name for name, module in model.named_modules() if name and not list(module.children())}
    entered: list[tuple[nn.Module, object]] = []

    def enter(module, args):
        entered.append((module, args))

    def leave(module, args, output):
        entered.pop()

    handles = [m.register_forward_pre_hook(enter) for m in leaves] + [m.register_forward_hook(leave) for m in leaves]
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            _call(model, example)
    except RuntimeError as err:
        if not entered:
            raise
        module, args = entered[-1]
        expects = expected_input(module) or "another shape"
        fix = "Choose a backbone that fits these images (or one that pools adaptively)"
        if not image_hint:
            fix = "Size the layers for these inputs (nn.LazyLinear infers in_features)"
        raise UserError(
            f"shape check: layer '{leaves[module]}' ({type(module).__name__}) expects {expects} but gets "
            f"{_shape(args)} from an input of {_shape(example)}{image_hint}. {fix}; python train.py --summary shows "
            "every layer's shapes."
        ) from err
    finally:
        model.train(training)
        for handle in handles:
            handle.remove()


def print_summary(model: nn.Module, console: Console | None = None) -> None:
    """Every layer with its input and output shape (the job torchsummary does), from Lightning's ModelSummary;
    modules the example input never reaches (metrics) are left out. Without ``example_input_array``: no shapes."""
    example = example_input(model)
    summary = ModelSummary(model, max_depth=-1)
    title, columns = f"{type(model).__name__}: layers", ["layer", "type", "params"]
    if example is not None:
        batch = _shape(example)
        title += f" and shapes (batch of {batch[0] if isinstance(batch, list) else '?'})"
        columns[2:2] = ["input", "output"]
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column == "params" else "left")
    layers = zip(
        summary.layer_names, summary.layer_types, summary.in_sizes, summary.out_sizes, summary.param_nums, strict=True
    )
    for name, kind, inputs, outputs, params in layers:
        shapes = [str(inputs), str(outputs)] if example is not None else []
        if example is None or inputs != "?":
            table.add_row(name, kind, *shapes, f"{params:,}")
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

"""Shapes before training: a per-layer summary (``--summary``) and a check that the backbone fits the images.

A backbone built for other images (a Linear sized for 28x28 fed 8x8 digits) otherwise fails inside the
first training step with ``mat1 and mat2 shapes cannot be multiplied``, naming neither the layer nor
the image size. One forward pass of ``example_input_array`` before training names both.
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


def expected_input(module: nn.Module) -> str | None:
    """What a layer accepts, in the same notation as a shape (``[*, 784]``, ``[N, 3, H, W]``)."""
    if isinstance(module, nn.Linear):
        return f"[*, {module.in_features}]"
    if isinstance(module, nn.modules.conv._ConvNd):
        spatial = ", ".join("HWD"[: len(module.kernel_size)])
        return f"[N, {module.in_channels}, {spatial}]"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return f"[N, {module.num_features}, ...]"
    if isinstance(module, nn.LayerNorm):
        return f"[*, {', '.join(map(str, module.normalized_shape))}]"
    return None


def check_shapes(model: nn.Module, image_hint: str = "") -> None:
    """Run ``model.example_input_array`` through ``model``; on failure name the innermost layer and both shapes.

    Runs in eval mode without autograd, so BatchNorm statistics and gradients are untouched.

    Raises:
        UserError: ``layer 'net.1' (Linear) expects [*, 784] but gets [2, 64] ...``.
    """
    example = getattr(model, "example_input_array", None)
    if not isinstance(example, torch.Tensor):
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
            model(example.to(next(model.parameters(), example).device))
    except RuntimeError as err:
        if not entered:
            raise
        name, module, args = entered[-1]
        expects = expected_input(module) or "another shape"
        raise UserError(
            f"shape check: layer '{name}' ({type(module).__name__}) expects {expects} but gets {_shape(args)} "
            f"from an input of {list(example.shape)}{image_hint}. Choose a backbone that fits these images "
            "(or one that pools adaptively); python train.py --summary shows every layer's shapes."
        ) from err
    finally:
        model.train(training)
        for handle in handles:
            handle.remove()


def print_summary(model: nn.Module, console: Console | None = None) -> None:
    """Every layer with its input and output shape (the job torchsummary does), from Lightning's ModelSummary.

    Modules that the example input never reaches (metrics) are left out; they have no shapes to show.
    """
    summary = ModelSummary(model, max_depth=-1)
    table = Table(title=f"{type(model).__name__}: layers and shapes (batch of {_shape(model.example_input_array)[0]})")
    for column in ("layer", "type", "input", "output", "params"):
        table.add_column(column, justify="right" if column == "params" else "left")
    rows = zip(
        summary.layer_names, summary.layer_types, summary.in_sizes, summary.out_sizes, summary.param_nums, strict=True
    )
    for name, kind, inputs, outputs, params in rows:
        if inputs != "?":
            table.add_row(name, kind, str(inputs), str(outputs), f"{params:,}")
    table.caption = f"{summary.total_parameters:,} parameters, {summary.trainable_parameters:,} trainable"
    (console or Console()).print(table)

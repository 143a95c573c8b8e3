"""Where a network's stem (first convolution) and head (classifier) are, so that they can be swapped or adapted.

Library networks fit a new task by changing their two ends: the stem for the number of image channels and the
head for the number of classes. Fine-tuning needs the same split (train the head first), so it lives here once.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from litproj.errors import UserError


def head_name(net: nn.Module) -> str:
    """The qualified name of the classifier: timm's ``get_classifier()``, else the last ``nn.Linear``."""
    if hasattr(net, "get_classifier"):
        classifier = net.get_classifier()
        for name, module in net.named_modules():
            if module is classifier and name:
                return name
    linears = [name for name, module in net.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise UserError(
            f"{type(net).__name__} has no nn.Linear layer to use as its classifier head; give it one as its last "
            "layer, or build the head yourself and freeze the rest in your own module."
        )
    return linears[-1]


def stem_name(net: nn.Module) -> str | None:
    """The qualified name of the first ``nn.Conv2d`` (the layer that sees the image's channels), if any."""
    return next((name for name, module in net.named_modules() if isinstance(module, nn.Conv2d)), None)


def replace(net: nn.Module, name: str, module: nn.Module) -> None:
    """Put ``module`` where ``name`` (a dotted path such as ``classifier.2``) is."""
    parent, _, child = name.rpartition(".")
    setattr(net.get_submodule(parent) if parent else net, child, module)


def new_head(net: nn.Module, num_classes: int) -> None:
    """A freshly initialised classifier with ``num_classes`` outputs, in place of the current one."""
    name = head_name(net)
    old = net.get_submodule(name)
    replace(net, name, nn.Linear(old.in_features, num_classes, bias=old.bias is not None))


def new_stem(net: nn.Module, in_channels: int) -> None:
    """A stem taking ``in_channels``, keeping the old stem's weights folded onto the new channel count."""
    name = stem_name(net)
    if name is None:
        raise UserError(f"{type(net).__name__} has no nn.Conv2d stem to adapt to {in_channels}-channel images.")
    old = net.get_submodule(name)
    if old.in_channels == in_channels:
        return
    stem = nn.Conv2d(
        in_channels,
        old.out_channels,
        old.kernel_size,
        old.stride,
        old.padding,
        old.dilation,
        old.groups,
        old.bias is not None,
        old.padding_mode,
    )
    with torch.no_grad():
        stem.weight.copy_(fold_channels(old.weight, in_channels))
        if old.bias is not None:
            stem.bias.copy_(old.bias)
    replace(net, name, stem)
    if getattr(net, "transform_input", False):  # torchvision's Inception/GoogLeNet re-normalise 3 RGB channels
        net.transform_input = False


def fold_channels(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Convolution weights for ``in_channels`` inputs from weights made for another count.

    One channel gets the sum over the colour channels (a grey image is their average, up to scale); more channels
    cycle through the old ones, rescaled so that the layer's output keeps its magnitude.
    """
    old = weight.shape[1]
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeated = weight.repeat(1, math.ceil(in_channels / old), 1, 1)[:, :in_channels]
    return repeated * (old / in_channels)

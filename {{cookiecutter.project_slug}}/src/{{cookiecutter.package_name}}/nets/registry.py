"""Backbones by name, so configs and search spaces can say ``backbone: resnet18``."""

from __future__ import annotations

import importlib

from torch import nn

from {{ cookiecutter.package_name }}.errors import UserError, did_you_mean
from {{ cookiecutter.package_name }}.nets.resnet import ResNet18Small
from {{ cookiecutter.package_name }}.nets.small_cnn import SmallCNN

BACKBONES: dict[str, type[nn.Module]] = {
    "small_cnn": SmallCNN,
    "resnet18": ResNet18Small,
}


def _import(path: str) -> type[nn.Module]:
    module_name, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise UserError(f"--model.backbone: cannot import '{path}' ({err}).") from err


def build_backbone(name: str, in_channels: int, num_classes: int, **kwargs) -> nn.Module:
    """Instantiate a registered backbone, or any ``nn.Module`` class given by dotted import path.

    The class must accept ``in_channels`` and ``num_classes`` keyword arguments.
    """
    if "." in name:
        cls = _import(name)
    elif name in BACKBONES:
        cls = BACKBONES[name]
    else:
        hint = did_you_mean(name, BACKBONES)
        raise UserError(
            f"--model.backbone: unknown backbone '{name}'.{hint} Choose one of {sorted(BACKBONES)} "
            "or a dotted import path such as mypkg.nets.MyNet."
        )
    return cls(in_channels=in_channels, num_classes=num_classes, **kwargs)

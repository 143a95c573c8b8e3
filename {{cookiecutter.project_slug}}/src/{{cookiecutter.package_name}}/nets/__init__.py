"""Plain ``nn.Module`` networks: they know nothing about training.

Backbones are looked up by name (``--model.backbone small_cnn``) so that search spaces can list them
as plain strings; a dotted import path (``mypkg.nets.MyNet``) plugs in a network of your own.
"""

from {{ cookiecutter.package_name }}.nets.registry import BACKBONES, build_backbone
from {{ cookiecutter.package_name }}.nets.resnet import ResNet18Small
from {{ cookiecutter.package_name }}.nets.small_cnn import SmallCNN

__all__ = ["BACKBONES", "ResNet18Small", "SmallCNN", "build_backbone"]

"""Plain ``nn.Module`` networks, which know nothing about training, and the registry that names them.

Backbones are looked up by name (``--model.backbone small_cnn``) so that search spaces can list them as plain
strings; a dotted import path (``mypkg.nets.MyNet``) plugs in your own network, ``torchvision:NAME`` /
``timm:NAME`` any classification model of those libraries (``library.py``), with their pretrained weights or a
local file's (``weights.py``). ``finetuning.py`` trains the head first, then the whole network. The example
networks are ``nn.Sequential`` because the model-split strategy cuts a sequential backbone into stages: add
yours here, or delete them once your model builds its own.
"""

import pkgutil

from torch import nn
from torchvision.models import resnet18

from litproj.errors import UserError, did_you_mean
from litproj.nets.library import build_library_net
from litproj.nets.weights import load_into, read_state_dict


class SmallCNN(nn.Sequential):
    """Trains on 8x8 digits in seconds; global average pooling lets it accept any image size."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32, dropout: float = 0.1):
        super().__init__(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(2 * width, num_classes),
        )


class ResNet18Small(nn.Sequential):
    """torchvision's ResNet-18 with a 3x3 stride-1 stem and no max-pool: the ImageNet stem shrinks a 32x32 image
    to 8x8 before the first block, which costs CIFAR-10 several points of accuracy."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10):
        net = resnet18(weights=None, num_classes=num_classes)
        stem = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        super().__init__(
            stem, net.bn1, net.relu, net.layer1, net.layer2, net.layer3, net.layer4, net.avgpool, nn.Flatten(), net.fc
        )


BACKBONES: dict[str, type[nn.Module]] = {"small_cnn": SmallCNN, "resnet18": ResNet18Small}


def build_backbone(
    name: str, in_channels: int, num_classes: int, pretrained: bool = False, weights: str | None = None, **kwargs
) -> nn.Module:
    """A registered backbone, ``torchvision:NAME`` / ``timm:NAME``, or any ``nn.Module`` class by dotted path that
    takes ``in_channels`` and ``num_classes``; with the library's weights (``pretrained``) or a local file's."""
    if pretrained and weights:
        raise UserError("--model.pretrained and --model.weights both set: choose one source of weights.")
    if ":" in name:
        net = build_library_net(name, in_channels, num_classes, pretrained)
    elif pretrained:
        raise UserError(
            f"--model.pretrained: '{name}' has no library weights; use torchvision:NAME or timm:NAME, or pass a "
            "file with --model.weights PATH."
        )
    else:
        net = _registered(name)(in_channels=in_channels, num_classes=num_classes, **kwargs)
    if weights:
        load_into(net, read_state_dict(weights), f"'{weights}'")
    return net


def _registered(name: str) -> type[nn.Module]:
    if "." in name:
        try:
            return pkgutil.resolve_name(name)
        except (ImportError, AttributeError, ValueError) as err:
            raise UserError(f"--model.backbone: cannot import '{name}' ({err}).") from err
    if name in BACKBONES:
        return BACKBONES[name]
    raise UserError(
        f"--model.backbone: unknown backbone '{name}'.{did_you_mean(name, BACKBONES)} Choose one of "
        f"{sorted(BACKBONES)}, torchvision:NAME, timm:NAME or a dotted import path such as mypkg.nets.MyNet."
    )

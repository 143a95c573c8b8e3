"""torchvision's ResNet-18 adapted to small images (CIFAR, MNIST, digits)."""

from __future__ import annotations

from torch import nn
from torchvision.models import resnet18


class ResNet18Small(nn.Sequential):
    """ResNet-18 with a 3x3 stride-1 stem and no max-pool, so 32x32 (or 8x8) inputs keep their detail.

    The ImageNet stem (7x7 stride 2 + max-pool) shrinks a 32x32 image to 8x8 before the first block,
    which costs CIFAR-10 several points of accuracy. Built as an ``nn.Sequential`` of torchvision's
    own layers so the model-split strategy can place its stages on different devices.

    Args:
        in_channels: image channels.
        num_classes: number of output logits.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10):
        net = resnet18(weights=None, num_classes=num_classes)
        super().__init__(
            nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False),
            net.bn1,
            net.relu,
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
            net.avgpool,
            nn.Flatten(),
            net.fc,
        )

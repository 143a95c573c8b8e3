"""A small convolutional network that trains on 8x8 digits in seconds and scales to larger images."""

from __future__ import annotations

from torch import nn


class SmallCNN(nn.Sequential):
    """Two conv blocks, global pooling and a linear head.

    It is an ``nn.Sequential`` on purpose: the model-split strategy cuts any sequential backbone into
    stages, and global average pooling lets the same network accept any image size.

    Args:
        in_channels: image channels (1 for digits/MNIST, 3 for CIFAR or photos).
        num_classes: number of output logits.
        width: channels of the first conv block (the second has twice as many).
        dropout: dropout before the head.
    """

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

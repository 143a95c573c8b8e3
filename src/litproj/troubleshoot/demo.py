"""Deliberately broken pieces for the troubleshooting demos (configs/demo/*.yaml). Never use them for real work."""

import torch
from torch import nn

from litproj.module import ImageClassifier


class LeakyClassifier(ImageClassifier):
    """An :class:`ImageClassifier` with the lecture's leak: ``self.total_loss += loss`` keeps every graph alive."""

    def on_train_epoch_start(self) -> None:
        self.total_loss = 0.0
        self.steps = 0

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = super().training_step(batch, batch_idx)
        self.total_loss += loss  # the bug: should be loss.item()
        self.steps += 1
        return loss

    def on_train_epoch_end(self) -> None:
        self.log("train/mean_loss", self.total_loss / max(self.steps, 1))


class MLP28(nn.Sequential):
    """A multilayer perceptron for 28x28 images: fed 8x8 digits, its first Linear gets the wrong shape."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__(
            nn.Flatten(),
            nn.Linear(in_channels * 28 * 28, 128),
            nn.ReLU(),
            nn.Linear(128, num_classes),
        )


class MemoryHungryCNN(nn.Sequential):
    """Upsamples images 16x (8x8 digits become 128x128) through 16 conv layers: about 128 MB of saved
    activations per sample, so bench/gpu_troubleshoot.sh's batch really exhausts a GPU. Many layers rather
    than one huge one keep every tensor under 2**31 elements (which CUDA kernels index safely), so the
    failure is a genuine out-of-memory error and nothing else."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 64, depth: int = 16):
        layers: list[nn.Module] = [nn.Upsample(scale_factor=16), nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
        super().__init__(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))

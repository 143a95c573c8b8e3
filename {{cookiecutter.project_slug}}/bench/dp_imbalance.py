"""DataParallel's device-0 imbalance in numbers, next to DDP, without a GPU (issue 17: the lecture set straight).

    python bench/dp_imbalance.py                                  # ResNet-18, 10 classes, 32x32, batch 128, 8 devices
    python bench/dp_imbalance.py --output_elements 51463168       # the same with GPT-2-sized logits (1024 x 50,257)

``nn.DataParallel`` keeps the module and the optimizer on device 0, broadcasts the weights to the other devices
every step, gathers every replica's output on device 0 for the loss, and reduce-adds the replicas' gradients
there. Sizes come from the model on the meta device (``{{ cookiecutter.package_name }}.strategies.measure``), fp32, AdamW (2 states per
parameter); like ``--plan`` it is a lower bound: no allocator overhead or temporary buffers.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
from rich.console import Console
from rich.table import Table

MiB = 2**20


@dataclass
class Load:
    """Bytes on one device during a training step."""

    params: float
    grads: float
    optimizer: float
    activations: float
    outputs: float  # gathered outputs of all replicas and their gradient (device 0 under DP only)

    @property
    def total(self) -> float:
        return self.params + self.grads + self.optimizer + self.activations + self.outputs


def per_device(weights: float, states: int, activations: float, outputs: float, devices: int) -> dict[str, Load]:
    """Loads for a global batch whose activations take ``activations`` bytes and whose model outputs take
    ``outputs`` bytes, split evenly over ``devices`` replicas."""
    share = activations / devices
    return {
        # Its replica's gradient plus the reduce-added sum; the only optimizer; the gathered outputs + their grad.
        "DP device 0": Load(weights, 2 * weights, states * weights, share, 2 * outputs),
        # A broadcast copy of the weights and its gradient, until the reduce onto device 0.
        f"DP device 1..{devices - 1}": Load(weights, weights, 0.0, share, 0.0),
        # Every rank the same: a full replica, its gradient plus the all-reduce buckets, its own optimizer.
        f"DDP each of {devices}": Load(weights, 2 * weights, states * weights, share, 0.0),
    }


def resnet18_rows(
    batch: int, devices: int, image: int, num_classes: int, output_elements: int | None = None
) -> dict[str, Load]:
    """:func:`per_device` for torchvision's ResNet-18 (fp32, AdamW), activations measured on the meta device."""
    from torchvision.models import resnet18

    from {{ cookiecutter.package_name }}.strategies.measure import activation_bytes

    model = resnet18(num_classes=num_classes)
    weights = float(sum(p.numel() for p in model.parameters()) * 4)
    sample = torch.empty(batch, 3, image, image, device="meta")
    activations = sum(activation_bytes(model, sample, 4).values())
    outputs = float(batch * (output_elements or num_classes) * 4)
    activations += outputs - batch * num_classes * 4  # a larger output layer: each replica holds its share
    return per_device(weights, 2, activations, outputs, devices)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch_size", type=int, default=128, help="global batch, split over the devices")
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--image", type=int, default=32)
    parser.add_argument("--num_classes", type=int, default=10)
    parser.add_argument("--output_elements", type=int, default=None, help="output numbers per sample if larger")
    args = parser.parse_args()
    rows = resnet18_rows(args.batch_size, args.devices, args.image, args.num_classes, args.output_elements)
    table = Table(title=f"memory per device, global batch {args.batch_size}, {args.devices} devices (MiB)")
    for column in ("device", "params", "grads", "optimizer", "activations", "gathered outputs", "total"):
        table.add_column(column, justify="left" if column == "device" else "right")
    for name, load in rows.items():
        values = (load.params, load.grads, load.optimizer, load.activations, load.outputs, load.total)
        table.add_row(name, *(f"{value / MiB:,.1f}" for value in values))
    Console(width=120).print(table)


if __name__ == "__main__":
    main()

"""{{ cookiecutter.package_name }} against a hand-written PyTorch loop and bare Lightning: the same work done three ways.

Same network, data tensors, batch size, optimizer (AdamW with a per-step cosine), epochs and a
validation pass per epoch; only the machinery around them differs:

- ``raw``: a plain PyTorch loop over ``DataLoader(TensorDataset)`` (the one hand-written loop
  {{ cookiecutter.package_name }} allows, and only here);
- ``bare Lightning``: a minimal ``LightningModule`` and ``Trainer`` without logger, checkpoints,
  progress bar or model summary;
- ``{{ cookiecutter.package_name }}``: ``{{ cookiecutter.package_name }}.cli.build`` with the template's defaults (TensorBoard, checkpoints, rich
  progress bar, torchmetrics, LR monitor), exactly what ``python train.py fit`` builds;
- ``floor``: forward + backward + optimizer step on one batch already on the device, no data
  loading, no validation: what the hardware needs for the training steps alone.

``{{ cookiecutter.package_name }} (no monitors)`` is {{ cookiecutter.package_name }} with the leak detector and the memory monitor off, the price of
those two default callbacks. ``--variant NAME=ARGS`` adds {{ cookiecutter.package_name }} runs with other flags, e.g. another
``--model`` class to compare two versions of a module. The variants run interleaved in one process
(warm-up round first, order rotating), and the table reports medians and the ratios {{ cookiecutter.package_name }}/raw and
{{ cookiecutter.package_name }}/bare Lightning.

    python bench/overhead.py                          # digits + small CNN on the CPU
    python bench/overhead.py --workload resnet18-gpu  # ResNet-18, synthetic CIFAR-shaped data, bf16-mixed
    python bench/overhead.py --quick                  # one short repetition (smoke test)
    python bench/overhead.py --variant "before=--model old_module.ImageClassifier"
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import tempfile
from dataclasses import dataclass, field, replace

import benchlib
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from {{ cookiecutter.package_name }}.cli import build
from {{ cookiecutter.package_name }}.cli.args import prepare
from {{ cookiecutter.package_name }}.nets import build_backbone

#: {{ cookiecutter.package_name }}'s default callbacks that only watch memory: the "no monitors" variant turns them off.
NO_MONITORS = ["--leak_detector.every_n_steps", "0", "--memory_monitor.every_n_steps", "0"]

#: What each variant returns: its stopwatch (wall and CPU seconds) and the final validation accuracy.
Timed = tuple[benchlib.Stopwatch, float]


@dataclass(frozen=True)
class Workload:
    backbone: str
    data: list[str]
    batch_size: int
    epochs: int
    device: str
    precision: str = "32-true"
    channels_last: bool = False
    lr: float = 3e-3
    {{ cookiecutter.package_name }}_extra: dict[str, list[str]] = field(default_factory=dict)


WORKLOADS = {
    "digits-cpu": Workload("small_cnn", ["--data", "{{ cookiecutter.package_name }}.data.DigitsDataModule"], 64, 5, "cpu"),
    "resnet18-gpu": Workload(
        "resnet18",
        ["--data", "{{ cookiecutter.package_name }}.data.SyntheticDataModule", "--data.num_samples", "10000"],
        256,
        3,
        "cuda",
        precision="bf16-mixed",
        channels_last=True,
        lr=2e-3,
        # The default keeps synthetic data on the GPU; this variant shows the host-memory path users get
        # for data too big for the device.
        {{ cookiecutter.package_name }}_extra={"{{ cookiecutter.package_name }} (host data)": ["--data.device_resident", "false"]},
    ),
}
QUICK = {
    "digits-cpu": {"epochs": 1},
    "resnet18-gpu": {
        "epochs": 1,
        "batch_size": 64,
        "data": ["--data", "{{ cookiecutter.package_name }}.data.SyntheticDataModule", "--data.num_samples", "256", "--data.image_size", "8"],
    },
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(workload: Workload, device: torch.device):
    if workload.precision == "bf16-mixed":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _network(workload: Workload, num_classes: int, in_channels: int, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_backbone(workload.backbone, in_channels=in_channels, num_classes=num_classes).to(device)
    return net.to(memory_format=torch.channels_last) if workload.channels_last else net


def _optimizer(params, workload: Workload, total_steps: int):
    optimizer = torch.optim.AdamW(params, lr=workload.lr, weight_decay=1e-4)
    return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps))


def _loaders(train, val, workload: Workload, device: torch.device) -> tuple[DataLoader, DataLoader]:
    pin = device.type == "cuda"
    train_loader = DataLoader(TensorDataset(*train), batch_size=workload.batch_size, shuffle=True, pin_memory=pin)
    return train_loader, DataLoader(TensorDataset(*val), batch_size=workload.batch_size, pin_memory=pin)


def _inputs(x: torch.Tensor, workload: Workload, device: torch.device) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if workload.channels_last else x


def _train_step(net, x, y, optimizer, scheduler, workload: Workload, device: torch.device) -> None:
    with _autocast(workload, device):
        loss = F.cross_entropy(net(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()


def raw_fit(workload: Workload, data: dict, device: torch.device) -> Timed:
    """The hand-written loop: train an epoch, measure validation accuracy, repeat."""
    with benchlib.Stopwatch() as watch:
        net = _network(workload, data["num_classes"], data["in_channels"], device)
        train_loader, val_loader = _loaders(data["train"], data["val"], workload, device)
        optimizer, scheduler = _optimizer(net.parameters(), workload, workload.epochs * len(train_loader))
        for _ in range(workload.epochs):
            net.train()
            for x, y in train_loader:
                x, y = _inputs(x, workload, device), y.to(device, non_blocking=True)
                _train_step(net, x, y, optimizer, scheduler, workload, device)
            net.eval()
            correct = torch.zeros((), device=device)
            with torch.no_grad(), _autocast(workload, device):
                for x, y in val_loader:
                    x, y = _inputs(x, workload, device), y.to(device, non_blocking=True)
                    correct += (net(x).argmax(1) == y).sum()
            accuracy = correct.item() / len(data["val"][1])
        _sync(device)
    return watch, accuracy


class BareModule(pl.LightningModule):
    """The least a Lightning user writes for the same job: steps, one validation metric, the optimizer."""

    def __init__(self, net: torch.nn.Module, workload: Workload):
        super().__init__()
        self.net = net
        self.workload = workload

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        if self.workload.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return F.cross_entropy(self.net(x), y)

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        if self.workload.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        self.log("val_acc", (self.net(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        optimizer, scheduler = _optimizer(self.parameters(), self.workload, self.trainer.estimated_stepping_batches)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def _accelerator(device: torch.device) -> str:
    return "gpu" if device.type == "cuda" else "cpu"


def bare_fit(workload: Workload, data: dict, device: torch.device) -> Timed:
    net = _network(workload, data["num_classes"], data["in_channels"], torch.device("cpu"))
    model = BareModule(net, workload)
    train_loader, val_loader = _loaders(data["train"], data["val"], workload, device)
    trainer = pl.Trainer(
        accelerator=_accelerator(device),
        devices=1,
        precision=workload.precision,
        max_epochs=workload.epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with benchlib.Stopwatch() as watch:
        trainer.fit(model, train_loader, val_loader)
        _sync(device)
    return watch, float(trainer.callback_metrics["val_acc"])


def {{ cookiecutter.package_name }}_args(workload: Workload, device: torch.device, runs_dir: str, extra: list[str]) -> list[str]:
    """``python train.py fit`` arguments for this workload; everything else stays at {{ cookiecutter.package_name }}'s defaults."""
    return [
        "fit",
        "--runs_dir",
        runs_dir,
        "--name",
        "overhead",
        "--trainer.accelerator",
        _accelerator(device),
        "--trainer.devices",
        "1",
        "--trainer.precision",
        workload.precision,
        "--trainer.max_epochs",
        str(workload.epochs),
        "--model.backbone",
        workload.backbone,
        "--model.lr",
        str(workload.lr),
        *(["--model.channels_last", "true"] if workload.channels_last else []),
        *workload.data,
        "--data.batch_size",
        str(workload.batch_size),
        *extra,
    ]


def {{ cookiecutter.package_name }}_fit(workload: Workload, device: torch.device, runs_dir: str, extra: list[str]) -> Timed:
    cli = build(prepare({{ cookiecutter.package_name }}_args(workload, device, runs_dir, extra)))
    with benchlib.Stopwatch() as watch:
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        _sync(device)
    return watch, float(cli.trainer.callback_metrics["val/acc"])


def floor_fit(workload: Workload, data: dict, device: torch.device) -> Timed:
    """Training steps only, on one batch already on the device: no loader, no validation, no framework."""
    steps = workload.epochs * -(-len(data["train"][1]) // workload.batch_size)
    x = _inputs(data["train"][0][: workload.batch_size], workload, device)
    y = data["train"][1][: workload.batch_size].to(device)
    with benchlib.Stopwatch() as watch:
        net = _network(workload, data["num_classes"], data["in_channels"], device)
        optimizer, scheduler = _optimizer(net.parameters(), workload, steps)
        for _ in range(steps):
            _train_step(net, x, y, optimizer, scheduler, workload, device)
        _sync(device)
    return watch, float("nan")


def load_data(workload: Workload, device: torch.device, runs_dir: str) -> dict:
    """The tensors {{ cookiecutter.package_name }}'s datamodule produces, so every variant trains on exactly the same samples."""
    datamodule = build(prepare({{ cookiecutter.package_name }}_args(workload, device, runs_dir, []))).datamodule
    datamodule.setup("fit")
    return {
        "train": datamodule.train_set.tensors,
        "val": datamodule.val_set.tensors,
        "num_classes": datamodule.num_classes,
        "in_channels": datamodule.in_channels,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="digits-cpu")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="override the workload's device")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per variant (default 5)")
    parser.add_argument("--epochs", type=int, help="override the workload's epochs")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--quick", action="store_true", help="1 short repetition, no warm-up: a smoke test")
    parser.add_argument("--json", help="also write every repetition and the machine to this JSON file")
    parser.add_argument(
        "--variant", action="append", default=[], metavar="NAME=ARGS", help="a {{ cookiecutter.package_name }} run with extra flags"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    workload = WORKLOADS[args.workload]
    if args.quick:
        workload = replace(workload, **QUICK[args.workload])
    if args.epochs:
        workload = replace(workload, epochs=args.epochs)
    device = torch.device(args.device or workload.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"error: workload '{args.workload}' needs a CUDA GPU; pass --device cpu to try it on the CPU.")
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: every variant gets the tuned kernels
    reps, warmup = (1, 0) if args.quick else (args.reps, 1)
    runs_dir = tempfile.mkdtemp(prefix="{{ cookiecutter.package_name }}-overhead-")
    data = load_data(workload, device, runs_dir)
    accuracy: dict[str, float] = {}
    cpu: dict[str, list[float]] = {}

    def timed(name, fn, *fn_args):
        def call() -> float:
            watch, accuracy[name] = fn(*fn_args)
            cpu.setdefault(name, []).append(watch.cpu_seconds)
            return watch.seconds

        return call

    variants = {
        "raw PyTorch": timed("raw PyTorch", raw_fit, workload, data, device),
        "bare Lightning": timed("bare Lightning", bare_fit, workload, data, device),
        "{{ cookiecutter.package_name }}": timed("{{ cookiecutter.package_name }}", {{ cookiecutter.package_name }}_fit, workload, device, runs_dir, []),
    }
    extras = {"{{ cookiecutter.package_name }} (no monitors)": NO_MONITORS, **workload.{{ cookiecutter.package_name }}_extra}
    for variant in args.variant:
        name, equals, flags = variant.partition("=")
        if not (name and equals):
            sys.exit(f"error: --variant '{variant}': write NAME=FLAGS, e.g. \"before=--model old.Module\".")
        extras[name] = shlex.split(flags)
    for name, extra in extras.items():
        variants[name] = timed(name, {{ cookiecutter.package_name }}_fit, workload, device, runs_dir, extra)
    variants["floor"] = timed("floor", floor_fit, workload, data, device)
    times = benchlib.interleave(variants, reps=reps, warmup=warmup)
    cpu = {name: values[warmup:] for name, values in cpu.items()}
    report(args, workload, device, data, times, cpu, accuracy)


def _rows(times: dict[str, list[float]], images: int, accuracy: dict[str, float]) -> list[list[str]]:
    medians = {name: benchlib.median(values) for name, values in times.items()}
    return [
        [
            name,
            f"{medians[name]:.2f}",
            benchlib.spread(values),
            f"{medians[name] / medians['raw PyTorch']:.2f}",
            f"{medians[name] / medians['bare Lightning']:.2f}",
            f"{images / medians[name]:,.0f}",
            "" if accuracy[name] != accuracy[name] else f"{accuracy[name]:.3f}",
        ]
        for name, values in times.items()
    ]


def report(args, workload: Workload, device, data: dict, times: dict, cpu: dict, accuracy: dict) -> None:
    images = workload.epochs * len(data["train"][1])
    machine = benchlib.machine()
    caption = (
        f"{args.workload}: {workload.backbone}, batch {workload.batch_size}, {workload.epochs} epochs, "
        f"{workload.precision}, {device}, {torch.get_num_threads()} threads; median of {len(times['{{ cookiecutter.package_name }}'])} "
        f"interleaved reps; {machine['cores']} cores, {machine['cpu']}, gpu {machine['gpu']}, "
        f"load {machine['load_average_1min']:.1f}"
    )
    columns = ["variant", "fit s (median)", "min–max", "× raw", "× bare Lightning", "train img/s", "val acc"]
    for label, values in (("wall", times), ("CPU (process time)", cpu)):
        title = f"fit time, {label}: {{ cookiecutter.package_name }} vs raw PyTorch vs bare Lightning"
        benchlib.print_table(title, columns, _rows(values, images, accuracy), caption)
        medians = {name: benchlib.median(v) for name, v in values.items()}
        print(
            f"{label}: {{ cookiecutter.package_name }}/raw = {medians['{{ cookiecutter.package_name }}'] / medians['raw PyTorch']:.3f}   "
            f"{{ cookiecutter.package_name }}/bare Lightning = {medians['{{ cookiecutter.package_name }}'] / medians['bare Lightning']:.3f}"
        )
        for name in medians.keys() - {"raw PyTorch", "bare Lightning", "{{ cookiecutter.package_name }}", "floor"}:
            print(f"{label}: {{ cookiecutter.package_name }}/{name} = {medians['{{ cookiecutter.package_name }}'] / medians[name]:.3f}")
    payload = {"workload": args.workload, "settings": vars(args), "machine": machine, "seconds": times}
    benchlib.save_json(args.json, {**payload, "cpu_seconds": cpu, "val_acc": accuracy, "train_images_per_fit": images})


if __name__ == "__main__":
    main()

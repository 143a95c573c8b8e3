"""What ``{{ cookiecutter.package_name }} doctor`` looks at: versions, GPUs, CPUs and installed packages, gathered without failing."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import torch

#: packages whose presence or version matters to {{ cookiecutter.package_name }} (``lightning`` must NOT be installed next to it).
PACKAGES = ("pytorch-lightning", "lightning", "torchvision", "torchmetrics", "ray", "psutil")


@dataclass
class GPU:
    index: int
    name: str
    total_mb: float
    free_mb: float
    bf16: bool


@dataclass
class Machine:
    """Facts about this machine; tests build one by hand to exercise the broken states."""

    python: str
    system: str
    torch: str
    torch_cuda: str | None
    cuda_available: bool
    nvidia_driver: bool
    cudnn: str | None = None
    nccl: str | None = None
    gpus: list[GPU] = field(default_factory=list)
    cpus: int = 1
    packages: dict[str, str | None] = field(default_factory=dict)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _nccl() -> str | None:
    try:
        version = torch.cuda.nccl.version()
    except (RuntimeError, AttributeError):
        return None
    return ".".join(map(str, version)) if isinstance(version, tuple) else str(version)


def _gpus() -> list[GPU]:
    gpus = []
    for index in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(index)
        bf16 = torch.cuda.get_device_capability(index)[0] >= 8
        gpus.append(GPU(index, torch.cuda.get_device_name(index), total / 2**20, free / 2**20, bf16))
    return gpus


def inspect_machine() -> Machine:
    """Gather the facts; every probe that can fail on a broken install degrades to "unknown"."""
    available = torch.cuda.is_available()
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return Machine(
        python=sys.version.split()[0],
        system=f"{platform.system()} {platform.release()} ({platform.machine()})",
        torch=torch.__version__,
        torch_cuda=torch.version.cuda,
        cuda_available=available,
        nvidia_driver=Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidia0").exists(),
        cudnn=str(cudnn) if cudnn else None,
        nccl=_nccl() if torch.distributed.is_available() and torch.distributed.is_nccl_available() else None,
        gpus=_gpus() if available else [],
        cpus=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        packages={name: _version(name) for name in PACKAGES},
    )

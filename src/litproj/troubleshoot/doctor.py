"""``litproj doctor``: can this machine train, with which presets and precisions, and what is broken (and the fix)."""

import contextlib
import pkgutil
import platform
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import torch
import yaml
from rich.console import Console
from rich.table import Table

from litproj.data.base import loader_workers, usable_cores
from litproj.rundir import config_dir
from litproj.troubleshoot.precision import precisions_refused

#: packages whose presence or version matters to litproj (``lightning`` must NOT be installed next to it).
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
    with contextlib.suppress(metadata.PackageNotFoundError):
        return metadata.version(package)
    return None


def _nccl() -> str | None:
    try:
        return ".".join(map(str, torch.cuda.nccl.version()))  # (major, minor, patch[, suffix])
    except (RuntimeError, AttributeError):
        return None


def _gpu(index: int) -> GPU:
    free, total = torch.cuda.mem_get_info(index)
    bf16 = torch.cuda.get_device_capability(index)[0] >= 8
    return GPU(index, torch.cuda.get_device_name(index), total / 2**20, free / 2**20, bf16)


def inspect_machine() -> Machine:
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
        gpus=[_gpu(index) for index in range(torch.cuda.device_count())] if available else [],
        cpus=usable_cores(),
        packages={name: _version(name) for name in PACKAGES},
    )


_STYLE = {"ok": "green", "info": "cyan", "warning": "yellow", "error": "bold red"}


@dataclass
class Finding:
    level: str  # ok | info | warning | error
    message: str
    fix: str = ""


def diagnose(machine: Machine) -> Iterator[Finding]:
    """Known bad states, most serious first. A CUDA build of torch without a driver is fine on a CPU machine."""
    if machine.nvidia_driver and machine.torch_cuda is None:
        yield Finding(
            "error",
            "this machine has an NVIDIA driver but torch is a CPU-only build.",
            "install a CUDA build: pip install torch --index-url https://download.pytorch.org/whl/cu126",
        )
    elif machine.nvidia_driver and not machine.cuda_available:
        yield Finding(
            "error",
            f"an NVIDIA driver is present but torch (CUDA {machine.torch_cuda}) cannot use it.",
            "the driver is older than this torch's CUDA: update the driver, or install a torch wheel for "
            "the CUDA version nvidia-smi shows; also check CUDA_VISIBLE_DEVICES.",
        )
    elif machine.torch_cuda and not machine.nvidia_driver:
        yield Finding("info", f"torch is built with CUDA {machine.torch_cuda}; no NVIDIA driver: CPU only.")
    if machine.packages.get("lightning") and machine.packages.get("pytorch-lightning"):
        yield Finding(
            "warning",
            "both `lightning` and `pytorch_lightning` are installed: callbacks of one are not callbacks "
            "of the other (Ray Tune's Lightning callback picks `lightning`).",
            "pip uninstall lightning  (litproj uses pytorch_lightning)",
        )
    if not machine.packages.get("pytorch-lightning"):
        yield Finding("error", "pytorch_lightning is not installed.", 'pip install -e ".[dev]"')
    for gpu in machine.gpus:
        if gpu.free_mb < 0.1 * gpu.total_mb:
            yield Finding(
                "warning",
                f"GPU {gpu.index} has only {gpu.free_mb:.0f} of {gpu.total_mb:.0f} MB free.",
                "another process holds it: nvidia-smi shows which; stop it or pick another GPU.",
            )


def preset_support(preset: dict, machine: Machine) -> str:
    """Whether a strategy preset can run here, read from its trainer section (accelerator, devices, backend)."""
    trainer = (preset or {}).get("trainer") or {}
    accelerator = str(trainer.get("accelerator", "auto")).lower()
    devices = trainer.get("devices", 1)
    count = devices if isinstance(devices, int) and devices > 0 else len(devices) if isinstance(devices, list) else 1
    text = yaml.safe_dump(trainer).lower()
    needs_gpu = accelerator in ("gpu", "cuda") or "nccl" in text or "deepspeed" in text
    if needs_gpu and len(machine.gpus) < count:
        return f"no: needs {count} GPU{'s' * (count > 1)}"
    if not needs_gpu and len(machine.gpus) < count and machine.cpus < count:
        return f"no: needs {count} devices"
    return "yes"


def preset_precisions(preset: dict) -> str:
    """The precisions Lightning refuses with a preset's strategy (e.g. ``16-mixed`` with FSDP2), asked of Lightning."""
    strategy = ((preset or {}).get("trainer") or {}).get("strategy", "auto")
    if isinstance(strategy, dict):
        strategy = pkgutil.resolve_name(strategy["class_path"])(**(strategy.get("init_args") or {}))
    refused = precisions_refused(strategy)
    return f"Lightning refuses precision {', '.join(refused)}" if refused else "any precision"


def _table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left", title_style="bold")
    table.add_column(style="bold cyan")
    table.add_column()
    for row in rows:
        table.add_row(*row)
    return table


def render(machine: Machine, findings: list[Finding], console: Console) -> None:
    versions = [
        ("python", machine.python),
        ("system", machine.system),
        ("torch", f"{machine.torch} (CUDA {machine.torch_cuda or 'none'})"),
        ("cuDNN / NCCL", f"{machine.cudnn or '-'} / {machine.nccl or '-'}"),
        *((name, version or "-") for name, version in machine.packages.items()),
        ("CPUs", str(machine.cpus)),
    ]
    gpus = [(f"GPU {g.index}", f"{g.name}: {g.free_mb:.0f} of {g.total_mb:.0f} MB free") for g in machine.gpus]
    console.print(_table("litproj doctor · versions", versions + (gpus or [("GPUs", "no GPU")])))
    can = []
    for path in sorted((config_dir() / "strategy").glob("*.yaml")):
        preset = yaml.safe_load(path.read_text(encoding="utf-8"))
        can.append((f"--strategy {path.stem}", f"{preset_support(preset, machine)}; {preset_precisions(preset)}"))
    # What the data modules choose by default: per rank, one rank per GPU; none when training on the CPU.
    workers = loader_workers(machine.cpus, len(machine.gpus)) if machine.gpus else 0
    can += [
        ("precision 32-true", "yes"),
        ("precision 16-mixed", "yes" if machine.gpus else "CPU: falls back to bf16-mixed"),
        ("precision bf16-mixed", "yes" if all(g.bf16 for g in machine.gpus) else "no: GPU before Ampere"),
        (
            "--data.num_workers",
            f"{workers} per rank for image files; 0 for in-memory data (digits)"
            if machine.gpus
            else "0: training on the CPU keeps its cores",
        ),
    ]
    console.print(_table("this machine can run", can))
    for finding in findings:
        fix = f"\n    fix: {finding.fix}" if finding.fix else ""
        console.print(f"[{_STYLE[finding.level]}]{finding.level}[/]: {finding.message}{fix}", highlight=False)


def doctor(machine: Machine | None = None, console: Console | None = None) -> int:
    """Print the report; return 1 when something is broken (an ``error`` finding), else 0."""
    machine = machine or inspect_machine()
    findings = list(diagnose(machine)) or [Finding("ok", "no known problems.")]
    render(machine, findings, console or Console())
    return 1 if any(f.level == "error" for f in findings) else 0

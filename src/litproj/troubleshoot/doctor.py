"""``litproj doctor``: can this machine train, with which presets and precisions, and what is broken (and the fix)."""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from rich.console import Console
from rich.table import Table

from litproj.rundir import config_dir
from litproj.troubleshoot.machine import Machine, inspect_machine

_STYLE = {"ok": "green", "info": "cyan", "warning": "yellow", "error": "bold red"}


@dataclass
class Finding:
    level: str  # ok | info | warning | error
    message: str
    fix: str = ""


def diagnose(machine: Machine) -> list[Finding]:
    """Known bad states, most serious first. A CUDA build of torch without a driver is fine on a CPU machine."""
    findings = []
    if machine.nvidia_driver and machine.torch_cuda is None:
        findings.append(
            Finding(
                "error",
                "this machine has an NVIDIA driver but torch is a CPU-only build.",
                "install a CUDA build: pip install torch --index-url https://download.pytorch.org/whl/cu126",
            )
        )
    elif machine.nvidia_driver and not machine.cuda_available:
        findings.append(
            Finding(
                "error",
                f"an NVIDIA driver is present but torch (CUDA {machine.torch_cuda}) cannot use it.",
                "the driver is older than this torch's CUDA: update the driver, or install a torch wheel for "
                "the CUDA version nvidia-smi shows; also check CUDA_VISIBLE_DEVICES.",
            )
        )
    elif machine.torch_cuda and not machine.nvidia_driver:
        findings.append(Finding("info", f"torch is built with CUDA {machine.torch_cuda}; no NVIDIA driver: CPU only."))
    if machine.packages.get("lightning") and machine.packages.get("pytorch-lightning"):
        findings.append(
            Finding(
                "warning",
                "both `lightning` and `pytorch_lightning` are installed: callbacks of one are not callbacks "
                "of the other (Ray Tune's Lightning callback picks `lightning`).",
                "pip uninstall lightning  (litproj uses pytorch_lightning)",
            )
        )
    if not machine.packages.get("pytorch-lightning"):
        findings.append(Finding("error", "pytorch_lightning is not installed.", 'pip install -e ".[dev]"'))
    for gpu in machine.gpus:
        if gpu.free_mb < 0.1 * gpu.total_mb:
            findings.append(
                Finding(
                    "warning",
                    f"GPU {gpu.index} has only {gpu.free_mb:.0f} of {gpu.total_mb:.0f} MB free.",
                    "another process holds it: nvidia-smi shows which; stop it or pick another GPU.",
                )
            )
    return findings or [Finding("ok", "no known problems.")]


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


def precision_support(machine: Machine) -> dict[str, str]:
    gpu = bool(machine.gpus)
    return {
        "32-true": "yes",
        "16-mixed": "yes" if gpu else "CPU: falls back to bf16-mixed",
        "bf16-mixed": "yes" if not gpu or all(g.bf16 for g in machine.gpus) else "no: GPU before Ampere",
    }


def recommended_workers(machine: Machine) -> str:
    """Workers per DataLoader: CPUs shared by the GPUs, one left for the main process, at most 8."""
    per_device = machine.cpus // max(1, len(machine.gpus))
    return f"{max(0, min(8, per_device - 1))} for image files; 0 for in-memory data (digits)"


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
    presets = {p.stem: yaml.safe_load(p.read_text()) for p in sorted((config_dir() / "strategy").glob("*.yaml"))}
    can = [(f"--strategy {name}", preset_support(preset, machine)) for name, preset in presets.items()]
    can += [(f"precision {name}", value) for name, value in precision_support(machine).items()]
    can.append(("--data.num_workers", recommended_workers(machine)))
    console.print(_table("this machine can run", can))
    for finding in findings:
        fix = f"\n    fix: {finding.fix}" if finding.fix else ""
        console.print(f"[{_STYLE[finding.level]}]{finding.level}[/]: {finding.message}{fix}", highlight=False)


def doctor(machine: Machine | None = None, console: Console | None = None) -> int:
    """Print the report; return 1 when something is broken (an ``error`` finding), else 0."""
    machine = machine or inspect_machine()
    findings = diagnose(machine)
    render(machine, findings, console or Console())
    return 1 if any(f.level == "error" for f in findings) else 0

"""What every {{ cookiecutter.package_name }} Trainer gets for reliability: device checks, atomic checkpoint writes, collective
timeouts, and the guards that stop on a NaN loss and name a DDP rank that died."""

from __future__ import annotations

import inspect
import pkgutil
from datetime import timedelta

import torch
from pytorch_lightning.plugins.io import CheckpointIO
from pytorch_lightning.strategies import Strategy, StrategyRegistry

from {{ cookiecutter.package_name }}.errors import UserError, did_you_mean
from {{ cookiecutter.package_name }}.reliability.checkpointing import SafeCheckpointIO
from {{ cookiecutter.package_name }}.reliability.finite_loss import FiniteLossGuard
from {{ cookiecutter.package_name }}.reliability.preemption import StopTogether
from {{ cookiecutter.package_name }}.reliability.rank_watchdog import DeadRankReport

#: Collective timeout for distributed strategies (seconds): long enough for rank 0 to prepare data while
#: the others wait at a barrier, short enough that a stuck (alive but silent) rank ends the job.
DEFAULT_DIST_TIMEOUT = 600


def with_timeout(strategy, seconds: int):
    """A strategy name or class path (jsonargparse keeps both as strings), with a collective timeout if it takes one."""
    if not isinstance(strategy, str) or strategy == "auto":
        return strategy
    if strategy in StrategyRegistry:
        entry = StrategyRegistry[strategy]
        cls, init_params = entry["strategy"], entry["init_params"]
    elif "." in strategy:
        try:
            cls, init_params = pkgutil.resolve_name(strategy), {}
        except (ImportError, AttributeError, ValueError) as err:
            raise UserError(f"--trainer.strategy: cannot import '{strategy}' ({err}). Check the class path.") from None
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise UserError(f"--trainer.strategy: '{strategy}' is not a Lightning Strategy class.")
    else:
        names = sorted(StrategyRegistry.available_strategies())
        raise UserError(
            f"--trainer.strategy: unknown strategy '{strategy}'.{did_you_mean(strategy, names)} Use auto, a name such "
            f"as {', '.join(n for n in names if n.startswith(('ddp', 'fsdp')) and n.count('_') < 2)}, or a class path."
        )
    if "timeout" not in inspect.signature(cls).parameters:
        return strategy if strategy in StrategyRegistry else cls()
    return cls(**init_params, timeout=timedelta(seconds=seconds))


def timeout_into_config(trainer_config, seconds: int) -> None:
    """Set the ``timeout`` of a strategy given as ``class_path`` + ``init_args`` (the ``ddp_spawn`` and ``fsdp``
    presets) before jsonargparse builds it; :func:`with_timeout` does names and class-path strings.
    ``--dist_timeout`` replaces a saved ``config.yaml``'s value; ``model_split`` (no ``timeout``) has no group."""
    init_args = getattr(trainer_config.get("strategy"), "init_args", None)
    if init_args is not None and "timeout" in init_args:
        init_args.timeout = timedelta(seconds=seconds)


def requested_devices(devices) -> int | None:
    """How many devices ``--trainer.devices`` asks for (``None`` for 'auto'/-1, which take what is there)."""
    if isinstance(devices, str):
        devices = devices.strip()
        if "," in devices:
            return len([d for d in devices.split(",") if d.strip()])
        if not devices.lstrip("-").isdigit():
            return None
        devices = int(devices)
    if isinstance(devices, (list, tuple)):
        return len(devices)
    return None if devices == -1 else devices


def check_devices(trainer_config: dict) -> None:
    """Zero devices, or more GPUs than the machine has: say so before Lightning's less direct message."""
    wanted = requested_devices(trainer_config.get("devices", "auto"))
    if wanted is not None and wanted < 1:
        raise UserError(f"--trainer.devices must be at least 1, or -1/auto for all (got {wanted}).")
    accelerator = str(trainer_config.get("accelerator", "auto"))
    present = torch.cuda.device_count()
    if accelerator in ("gpu", "cuda") and wanted is not None and wanted > present:
        raise UserError(
            f"--trainer.devices: asked for {wanted} GPU(s) but this machine has {present}. Use --trainer.devices "
            f"{present} or --trainer.accelerator cpu."
            if present
            else f"--trainer.accelerator {accelerator}: this machine has no GPU (torch.cuda.device_count() == 0). "
            "Use --trainer.accelerator cpu or auto."
        )


def harden(trainer_config: dict, dist_timeout: int) -> dict:
    """``trainer_config`` checked, with a distributed timeout and atomic checkpoint writes (:class:`SafeCheckpointIO`,
    unless the user chose a ``CheckpointIO`` of their own)."""
    check_devices(trainer_config)
    plugins = trainer_config.get("plugins")
    plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [] if plugins is None else [plugins]
    if not any(isinstance(p, CheckpointIO) for p in plugins):
        plugins.append(SafeCheckpointIO())
    strategy = with_timeout(trainer_config.get("strategy", "auto"), dist_timeout)
    return {**trainer_config, "plugins": plugins, "strategy": strategy}


def guard_callbacks() -> list:
    """Callbacks every run gets: stop on a non-finite loss, name a DDP rank that died, stop all ranks on SIGTERM."""
    return [FiniteLossGuard(), DeadRankReport(), StopTogether()]

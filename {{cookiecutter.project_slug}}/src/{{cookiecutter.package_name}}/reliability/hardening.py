"""What every {{ cookiecutter.package_name }} Trainer gets for reliability: atomic checkpoint writes, distributed timeouts, guards.

Kept apart from :mod:`{{ cookiecutter.package_name }}.cli` so the CLI only says *that* a trainer is hardened, and this module
says *how*: checkpoints go through :class:`~{{ cookiecutter.package_name }}.reliability.checkpointing.SafeCheckpointIO`, distributed
strategies named on the command line (``--trainer.strategy ddp``) get a collective timeout, and a NaN loss
stops the run naming the step. When a DDP rank dies, Lightning's launcher kills the job
(``_ChildProcessObserver``) or a collective fails first; :class:`~{{ cookiecutter.package_name }}.reliability.rank_watchdog.DeadRankReport`
names the rank that died. Loading (``weights_only`` unless ``--trust_checkpoint``) is an argument of
``Trainer.fit/validate/test/predict``, passed by the runner.
"""

from __future__ import annotations

import importlib
import inspect
from datetime import timedelta

import torch
from pytorch_lightning.plugins.io import CheckpointIO
from pytorch_lightning.strategies import Strategy, StrategyRegistry

from {{ cookiecutter.package_name }}.errors import UserError, did_you_mean
from {{ cookiecutter.package_name }}.reliability.checkpointing import SafeCheckpointIO
from {{ cookiecutter.package_name }}.reliability.finite_loss import FiniteLossGuard
from {{ cookiecutter.package_name }}.reliability.rank_watchdog import DeadRankReport

#: Collective timeout for distributed strategies (seconds): long enough for rank 0 to prepare data while
#: the others wait at a barrier, short enough that a stuck (alive but silent) rank ends the job.
DEFAULT_DIST_TIMEOUT = 600


def with_timeout(strategy, seconds: int):
    """A registered strategy name whose class takes ``timeout`` becomes an instance with that timeout."""
    if not isinstance(strategy, str) or strategy == "auto":
        return strategy
    if strategy not in StrategyRegistry:
        if "." in strategy:
            return _strategy_from_class_path(strategy, seconds)
        names = sorted(StrategyRegistry.available_strategies())
        raise UserError(
            f"--trainer.strategy: unknown strategy '{strategy}'.{did_you_mean(strategy, names)} Use auto, a name such "
            f"as {', '.join(n for n in names if n.startswith(('ddp', 'fsdp')) and n.count('_') < 2)}, or a class path."
        )
    entry = StrategyRegistry[strategy]
    if "timeout" not in inspect.signature(entry["strategy"].__init__).parameters:
        return strategy
    return entry["strategy"](**entry["init_params"], timeout=timedelta(seconds=seconds))


def _strategy_from_class_path(path: str, seconds: int):
    """``--trainer.strategy package.module.Class``: jsonargparse keeps a bare class path as a string."""
    module_name, _, class_name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as err:
        raise UserError(f"--trainer.strategy: cannot import '{path}' ({err}). Check the class path.") from None
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise UserError(f"--trainer.strategy: '{path}' is not a Lightning Strategy class.")
    takes_timeout = "timeout" in inspect.signature(cls).parameters
    return cls(timeout=timedelta(seconds=seconds)) if takes_timeout else cls()


def _requested_devices(devices) -> int | None:
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
    wanted = _requested_devices(trainer_config.get("devices", "auto"))
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


def with_safe_checkpoint_io(plugins) -> list:
    """The trainer's plugins plus :class:`SafeCheckpointIO`, unless the user chose a ``CheckpointIO`` of their own."""
    plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [] if plugins is None else [plugins]
    if not any(isinstance(p, CheckpointIO) for p in plugins):
        plugins.append(SafeCheckpointIO())
    return plugins


def harden(trainer_config: dict, dist_timeout: int) -> dict:
    """``trainer_config`` checked, with atomic checkpoint writes and a distributed timeout applied."""
    check_devices(trainer_config)
    return {
        **trainer_config,
        "plugins": with_safe_checkpoint_io(trainer_config.get("plugins")),
        "strategy": with_timeout(trainer_config.get("strategy", "auto"), dist_timeout),
    }


def guard_callbacks() -> list:
    """Callbacks every run gets: stop on a non-finite loss, and name a DDP rank that died."""
    return [FiniteLossGuard(), DeadRankReport()]

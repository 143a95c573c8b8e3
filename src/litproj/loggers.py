"""Point every configured logger at the run folder, whatever logger classes the config chose.

Loggers are picked by config files (``configs/logger/*.yaml``) that *append* to ``trainer.logger``
with jsonargparse's ``logger+:`` key, so ``--config configs/logger/csv.yaml --config
configs/logger/wandb.yaml`` adds both next to the default TensorBoard logger. Placement happens inside
:func:`litproj.cli.build`, the path every run and every tune trial takes, so each of them becomes one
tracker run named after its run folder and grouped under its experiment.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path

from jsonargparse import Namespace

from litproj.errors import UserError

Placement = Callable[[Path, str], dict]

#: Init arguments that must point into the run folder: a run folder holds everything its run wrote.
_WHERE: dict[str, Placement] = {
    "TensorBoardLogger": lambda run, _: {"save_dir": str(run), "name": "", "version": ""},
    "CSVLogger": lambda run, _: {"save_dir": str(run), "name": "", "version": ""},
    "WandbLogger": lambda run, _: {"save_dir": str(run)},
}

#: Init arguments set only where the config left them unset: one tracker run per run folder, grouped by experiment.
_NAMES: dict[str, Placement] = {
    "WandbLogger": lambda run, experiment: {"group": experiment, "name": f"{experiment}/{run.name}"},
    # MLflow's own default store is ./mlruns; a local file store inside the run folder keeps the run self-contained.
    # A tracking_uri from the config or from $MLFLOW_TRACKING_URI (a shared server) is kept.
    "MLFlowLogger": lambda run, experiment: {
        "experiment_name": experiment,
        "run_name": run.name,
        "tracking_uri": (run / "mlruns").resolve().as_uri(),  # absolute: Ray Tune trials change directory
    },
}

#: Values that the logger classes use as defaults and that litproj treats as "not set".
_UNSET = (None, "", "lightning_logs")

#: Logger class -> (module it imports, pip extra that installs it).
OPTIONAL_PACKAGES = {"WandbLogger": ("wandb", "wandb"), "MLFlowLogger": ("mlflow", "mlflow")}


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (wandb and mlflow take seconds to import)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_package(class_name: str) -> None:
    """Fail with the install command when the chosen logger's package is missing."""
    module, extra = OPTIONAL_PACKAGES.get(class_name, (None, None))
    if module is not None and not is_installed(module):
        raise UserError(
            f"trainer.logger: {class_name} needs the '{module}' package, which is not installed. "
            f'Install it with: pip install -e ".[{extra}]"'
        )


def _class_name(logger: Namespace) -> str:
    return logger.class_path.rsplit(".", 1)[-1]


def _place(logger: Namespace, run_dir: Path, experiment: str) -> Namespace:
    class_name = _class_name(logger)
    require_package(class_name)
    init_args = logger.get("init_args") or Namespace()
    where = _WHERE.get(class_name, lambda run, _: {"save_dir": str(run)})
    for key, value in where(run_dir, experiment).items():
        init_args[key] = value
    names = _NAMES.get(class_name, lambda run, _: {})
    for key, value in names(run_dir, experiment).items():
        if init_args.get(key) in _UNSET:
            init_args[key] = value
    logger.init_args = init_args
    _PREPARE.get(class_name, lambda _: None)(init_args)
    return logger


def _prepare_wandb(init_args: Namespace) -> None:
    """Offline unless the user chose a mode, and a fresh W&B run for every build.

    ``WandbLogger`` reuses whatever ``wandb.run`` is active, so a second run in the same process (tests,
    a notebook, a reused Tune worker) would log into the first run; finishing it keeps one run per build.
    """
    os.environ.setdefault("WANDB_MODE", "offline")
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


def _prepare_mlflow(init_args: Namespace) -> None:
    """MLflow 3 refuses file stores unless opted in; a store per run folder needs no database packages."""
    if str(init_args.get("tracking_uri")).startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


#: Environment a logger class needs before it is created.
_PREPARE: dict[str, Callable[[Namespace], None]] = {"WandbLogger": _prepare_wandb, "MLFlowLogger": _prepare_mlflow}


def _one_per_class(loggers: list) -> list:
    """One logger per class, where it was first given, with the last settings given for it.

    Two loggers of a kind would write into the same files; a later config naming the class again (say
    ``configs/logger/tensorboard.yaml`` on top of the default) means "this one, with these settings".
    """
    kept: dict[str, object] = {}
    for item in loggers:
        kept[item.class_path if isinstance(item, Namespace) else str(id(item))] = item
    return list(kept.values())


def place_loggers(logger_config, run_dir: Path, experiment: str | None = None):
    """Return the logger config with every logger writing into ``run_dir`` (``False``/``None`` untouched).

    Args:
        logger_config: ``trainer.logger`` as parsed: one logger, a list of them, ``True``/``False`` or ``None``.
        run_dir: the run folder (``runs/<experiment>/version_<n>``).
        experiment: groups the tracker runs (W&B group, MLflow experiment); defaults to the run folder's parent.
    """
    experiment = experiment or Path(run_dir).parent.name
    if isinstance(logger_config, list):
        loggers = _one_per_class(logger_config)
        return [_place(item, run_dir, experiment) if isinstance(item, Namespace) else item for item in loggers]
    if isinstance(logger_config, Namespace):
        return _place(logger_config, run_dir, experiment)
    return logger_config

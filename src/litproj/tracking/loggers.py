"""Point every configured logger at the run folder, whatever logger classes the config chose.

Loggers are picked by config files (``configs/logger/*.yaml``) that *append* to ``trainer.logger``
with jsonargparse's ``logger+:`` key, so ``--config configs/logger/csv.yaml --config
configs/logger/wandb.yaml`` adds both next to the default TensorBoard logger. Placement happens inside
:func:`litproj.cli.build`, the path every run and every tune trial takes, so each of them becomes one
tracker run: named after its run folder and grouped by experiment, or, in a Ray Tune trial, named
after the trial and grouped by the search.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from jsonargparse import Namespace

from litproj.errors import UserError

#: (run folder, group, run name) -> init arguments.
Placement = Callable[[Path, str, str], dict]

#: Init arguments that must point into the run folder: a run folder holds everything its run wrote.
_WHERE: dict[str, Placement] = {
    "TensorBoardLogger": lambda run, *_: {"save_dir": str(run), "name": "", "version": ""},
    "CSVLogger": lambda run, *_: {"save_dir": str(run), "name": "", "version": ""},
    "WandbLogger": lambda run, *_: {"save_dir": str(run)},
}

#: Init arguments set only where the config left them unset: one tracker run per run folder, grouped.
_NAMES: dict[str, Placement] = {
    "WandbLogger": lambda run, group, name: {"group": group, "name": f"{group}/{name}"},
    # MLflow's own default store is ./mlruns; a local file store inside the run folder keeps the run self-contained.
    # A tracking_uri from the config or from $MLFLOW_TRACKING_URI (a shared server) is kept.
    "MLFlowLogger": lambda run, group, name: {
        "experiment_name": group,
        "run_name": name,
        "tracking_uri": (run / "mlruns").resolve().as_uri(),  # absolute: Ray Tune trials change directory
    },
}

#: Values that the logger classes use as defaults and that litproj treats as "not set".
_UNSET = (None, "", "lightning_logs")
#: Values litproj derived for another run folder (a saved config.yaml reused by ``test --ckpt_path``): derive anew.
_DERIVED = re.compile(r"(.*/)?version_\d+(/mlruns)?")


def _unset(value) -> bool:
    return value in _UNSET or _DERIVED.fullmatch(str(value)) is not None


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


def _tune_trial() -> tuple[str, str] | None:
    """(search name, trial name) inside a Ray Tune trial, else ``None``; never imports Ray itself."""
    if "ray.tune" not in sys.modules:
        return None
    tune = sys.modules["ray.tune"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # outside a trial Ray warns and returns None
        try:
            context = tune.get_context()
            search, trial = context.get_experiment_name(), context.get_trial_name()
        except Exception:  # e.g. a Ray Train worker inside a trial: fall back to the experiment name
            return None
    return (search, trial) if search and trial else None


def _place(logger: Namespace, run_dir: Path, group: str, name: str) -> Namespace:
    class_name = _class_name(logger)
    require_package(class_name)
    init_args = logger.get("init_args") or Namespace()
    where = _WHERE.get(class_name, lambda run, *_: {"save_dir": str(run)})
    for key, value in where(run_dir, group, name).items():
        init_args[key] = value
    names = _NAMES.get(class_name, lambda *_: {})
    for key, value in names(run_dir, group, name).items():
        if _unset(init_args.get(key)):
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

    Tracker runs are grouped by ``experiment`` and named after the run folder (``version_<n>``); inside a
    Ray Tune trial they are grouped by the search and named after the trial instead.

    Args:
        logger_config: ``trainer.logger`` as parsed: one logger, a list of them, ``True``/``False`` or ``None``.
        run_dir: the run folder (``runs/<experiment>/version_<n>``).
        experiment: the experiment name; defaults to the run folder's parent folder.
    """
    group, name = _tune_trial() or (experiment or Path(run_dir).parent.name, Path(run_dir).name)
    if isinstance(logger_config, list):
        loggers = _one_per_class(logger_config)
        return [_place(item, run_dir, group, name) if isinstance(item, Namespace) else item for item in loggers]
    if isinstance(logger_config, Namespace):
        return _place(logger_config, run_dir, group, name)
    return logger_config

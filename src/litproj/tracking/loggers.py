"""Point every configured logger (``configs/logger/*.yaml`` append to ``trainer.logger``) at the run folder.

Every run and tune trial is built through :func:`litproj.cli.build`, so each becomes one tracker run: named after
its run folder and grouped by experiment, or named after the Ray Tune trial and grouped by the search. A fit resumed
in its run folder continues that folder's tracker runs (the ids :mod:`litproj.tracking.trackers` recorded).
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

#: Init arguments set only where the config left them unset: (run folder, group, run name) -> init arguments.
_NAMES: dict[str, Callable[[Path, str, str], dict]] = {
    "WandbLogger": lambda run, group, name: {"group": group, "name": f"{group}/{name}"},
    # MLflow's own default store is ./mlruns; a file store inside the run folder keeps the run self-contained.
    # A tracking_uri from the config or from $MLFLOW_TRACKING_URI (a shared server) is kept.
    "MLFlowLogger": lambda run, group, name: {
        "experiment_name": group,
        "run_name": name,
        "tracking_uri": (run / "mlruns").resolve().as_uri(),  # absolute: Ray Tune trials change directory
    },
}

#: Values meaning "not set": the logger classes' defaults, or what litproj derived for another run folder
#: (a saved config.yaml reused by ``test --ckpt_path``).
_UNSET = (None, "", "lightning_logs")
_DERIVED = re.compile(r"(.*/)?version_\d+(/mlruns)?")

#: Logger class -> (init argument that continues a run, its key in the record of the run folder's tracker runs).
#: WandbLogger already resumes a given id ("allow"); an MLflow run id is only valid in the store that holds it.
_CONTINUE = {"WandbLogger": ("id", "wandb"), "MLFlowLogger": ("run_id", "mlflow")}

#: Logger class -> (module it imports, pip extra that installs it).
OPTIONAL_PACKAGES = {"WandbLogger": ("wandb", "wandb"), "MLFlowLogger": ("mlflow", "mlflow")}


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (wandb and mlflow take seconds to import)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_package(class_name: str) -> None:
    module, extra = OPTIONAL_PACKAGES.get(class_name, (None, None))
    if module is not None and not is_installed(module):
        raise UserError(
            f"trainer.logger: {class_name} needs the '{module}' package, which is not installed. "
            f'Install it with: pip install -e ".[{extra}]"'
        )


def _tune_trial() -> tuple[str, str] | None:
    """(search name, trial name) inside a Ray Tune trial, else ``None``; never imports Ray itself."""
    if "ray.tune" not in sys.modules:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # outside a trial Ray warns and returns None
        try:
            context = sys.modules["ray.tune"].get_context()
            search, trial = context.get_experiment_name(), context.get_trial_name()
        except Exception:  # e.g. a Ray Train worker inside a trial: fall back to the experiment name
            return None
    return (search, trial) if search and trial else None


def _prepare_wandb(init_args: Namespace) -> None:
    """Offline unless the user chose a mode, and a fresh W&B run for every build: ``WandbLogger`` reuses the
    active ``wandb.run``, so a second build in one process (tests, a notebook, a Tune worker) would log into it."""
    os.environ.setdefault("WANDB_MODE", "offline")
    run = getattr(sys.modules.get("wandb"), "run", None)
    if run is not None:
        run.finish()


def _prepare_mlflow(init_args: Namespace) -> None:
    """MLflow 3 refuses file stores unless opted in; a store per run folder needs no database packages."""
    if str(init_args.get("tracking_uri")).startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


#: Environment a logger class needs before it is created.
_PREPARE: dict[str, Callable[[Namespace], None]] = {"WandbLogger": _prepare_wandb, "MLFlowLogger": _prepare_mlflow}


def _continued_run(class_name: str, init_args: Namespace, runs: dict) -> tuple[str, str] | None:
    """(init argument, recorded run id) that continues this logger's run, unless the config names a run itself."""
    if class_name not in _CONTINUE:
        return None
    key, tracker = _CONTINUE[class_name]
    recorded = runs.get(tracker)
    if not isinstance(recorded, dict) or not recorded.get(key):
        return None
    if init_args.get(key) or init_args.get("version"):  # the user's own choice of run (WandbLogger: id or version)
        return None
    if tracker == "mlflow" and recorded.get("tracking_uri") != init_args.get("tracking_uri"):
        return None  # another store: the recorded run does not exist there
    return key, str(recorded[key])


def _place(logger: Namespace, run_dir: Path, group: str, name: str, runs: dict) -> Namespace:
    class_name = logger.class_path.rsplit(".", 1)[-1]
    require_package(class_name)
    init_args = logger.get("init_args") or Namespace()
    init_args["save_dir"] = str(run_dir)  # a run folder holds everything its run wrote
    if class_name in ("TensorBoardLogger", "CSVLogger"):
        init_args["name"] = init_args["version"] = ""
    for key, value in _NAMES.get(class_name, lambda *_: {})(run_dir, group, name).items():
        current = init_args.get(key)
        if current in _UNSET or _DERIVED.fullmatch(str(current)):
            init_args[key] = value
    continued = _continued_run(class_name, init_args, runs)
    if continued:
        init_args[continued[0]] = continued[1]
    logger.init_args = init_args
    _PREPARE.get(class_name, lambda _: None)(init_args)
    return logger


def place_loggers(logger_config, run_dir: Path, experiment: str | None = None, runs: dict | None = None):
    """Return ``trainer.logger`` as parsed with every logger writing into ``run_dir`` (``False``/``None`` untouched),
    continuing the tracker ``runs`` recorded for it (``{"wandb": {"id": ...}, "mlflow": {"run_id": ...}}``).

    One logger per class, where first given, with the last settings given: two of a kind would write into the same
    files, and a later config naming the class again means "this one, with these settings"."""
    group, name = _tune_trial() or (experiment or Path(run_dir).parent.name, Path(run_dir).name)
    runs = runs or {}
    if isinstance(logger_config, Namespace):
        return _place(logger_config, run_dir, group, name, runs)
    if not isinstance(logger_config, list):
        return logger_config
    kept = {item.class_path if isinstance(item, Namespace) else str(id(item)): item for item in logger_config}
    return [_place(item, run_dir, group, name, runs) if isinstance(item, Namespace) else item for item in kept.values()]


def forget_runs(logger_config, runs: dict) -> None:
    """Clear the run ids :func:`place_loggers` continued, once the loggers exist: the saved ``config.yaml`` then
    names settings only, and a later run built from it (``test --ckpt_path``) starts its own tracker runs."""
    loggers = logger_config if isinstance(logger_config, list) else [logger_config]
    for logger in loggers:
        if not isinstance(logger, Namespace) or not logger.get("init_args"):
            continue
        key, tracker = _CONTINUE.get(logger.class_path.rsplit(".", 1)[-1], (None, None))
        recorded = runs.get(tracker) if key else None
        if isinstance(recorded, dict) and recorded.get(key) and logger.init_args.get(key) == recorded[key]:
            logger.init_args[key] = None

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
from pathlib import Path

from jsonargparse import Namespace

from litproj.errors import UserError

#: Logger class -> (module it imports, pip extra that installs it).
OPTIONAL_PACKAGES = {"WandbLogger": ("wandb", "wandb"), "MLFlowLogger": ("mlflow", "mlflow")}

#: Logger class -> (init argument that continues a run, its key in the record of the run folder's tracker runs).
#: WandbLogger already resumes a given id ("allow"); an MLflow run id is only valid in the store that holds it.
_CONTINUE = {"WandbLogger": ("id", "wandb"), "MLFlowLogger": ("run_id", "mlflow")}

#: Values meaning "not set": the logger classes' defaults, or what litproj derived for another run folder
#: (a saved config.yaml reused by ``test --ckpt_path``).
_UNSET = (None, "", "lightning_logs")
_DERIVED = re.compile(r"(.*/)?version_\d+(/mlruns)?")


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (wandb and mlflow take seconds to import)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


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


def _set_unset(init_args: Namespace, **values) -> None:
    """Set ``values`` where the config left them unset: what the user chose is kept."""
    for key, value in values.items():
        if init_args.get(key) in _UNSET or _DERIVED.fullmatch(str(init_args.get(key))):
            init_args[key] = value


def _place(logger: Namespace, run_dir: Path, group: str, name: str, runs: dict) -> Namespace:
    class_name = logger.class_path.rsplit(".", 1)[-1]
    module, extra = OPTIONAL_PACKAGES.get(class_name, (None, None))
    if module is not None and not is_installed(module):
        raise UserError(
            f"trainer.logger: {class_name} needs the '{module}' package, which is not installed. "
            f'Install it with: pip install -e ".[{extra}]"'
        )
    init_args = logger.get("init_args") or Namespace()
    init_args["save_dir"] = str(run_dir)  # a run folder holds everything its run wrote
    if class_name in ("TensorBoardLogger", "CSVLogger"):
        init_args["name"] = init_args["version"] = ""
    elif class_name == "WandbLogger":
        _set_unset(init_args, group=group, name=f"{group}/{name}")
        # Offline unless the user chose a mode, and a fresh W&B run for every build: ``WandbLogger`` reuses the
        # active ``wandb.run``, so a second build in one process (tests, a notebook, a Tune worker) would log into it.
        os.environ.setdefault("WANDB_MODE", "offline")
        active = getattr(sys.modules.get("wandb"), "run", None)
        if active is not None:
            active.finish()
    elif class_name == "MLFlowLogger":
        # MLflow's own default store is ./mlruns; a file store inside the run folder keeps the run self-contained.
        # A tracking_uri from the config or from $MLFLOW_TRACKING_URI (a shared server) is kept.
        uri = (run_dir / "mlruns").resolve().as_uri()  # absolute: Ray Tune trials change directory
        _set_unset(init_args, experiment_name=group, run_name=name, tracking_uri=uri)
        # MLflow 3 refuses file stores unless opted in; a store per run folder needs no database packages.
        if str(init_args.tracking_uri).startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    key, tracker = _CONTINUE.get(class_name, ("", ""))
    recorded = runs.get(tracker)
    if (
        isinstance(recorded, dict)
        and recorded.get(key)
        and not (init_args.get(key) or init_args.get("version"))  # unless the config names a run (W&B: id or version)
        and (tracker == "wandb" or recorded.get("tracking_uri") == init_args.get("tracking_uri"))  # MLflow: same store
    ):
        init_args[key] = str(recorded[key])  # continues the recorded run (an MLflow run exists only in its store)
    logger.init_args = init_args
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
    for logger in logger_config if isinstance(logger_config, list) else [logger_config]:
        if not isinstance(logger, Namespace) or not logger.get("init_args"):
            continue
        key, tracker = _CONTINUE.get(logger.class_path.rsplit(".", 1)[-1], ("", ""))
        recorded = runs.get(tracker)
        if isinstance(recorded, dict) and recorded.get(key) and logger.init_args.get(key) == recorded[key]:
            logger.init_args[key] = None

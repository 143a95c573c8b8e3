"""Point every configured logger at the run folder, whatever logger classes the config chose."""

from __future__ import annotations

from pathlib import Path

from jsonargparse import Namespace

#: init argument -> value to set, per logger class name; loggers not listed only get ``save_dir``.
_PLACEMENT = {
    "TensorBoardLogger": lambda run: {"save_dir": str(run), "name": "", "version": ""},
    "CSVLogger": lambda run: {"save_dir": str(run), "name": "", "version": ""},
    "WandbLogger": lambda run: {"save_dir": str(run)},
    "MLFlowLogger": lambda run: {"tracking_uri": f"file:{run / 'mlruns'}"},
}


def _place(logger: Namespace, run_dir: Path) -> Namespace:
    class_name = logger.class_path.rsplit(".", 1)[-1]
    placement = _PLACEMENT.get(class_name, lambda run: {"save_dir": str(run)})(run_dir)
    init_args = logger.get("init_args") or Namespace()
    for key, value in placement.items():
        init_args[key] = value
    logger.init_args = init_args
    return logger


def place_loggers(logger_config, run_dir: Path):
    """Return the logger config with every logger writing into ``run_dir`` (``False``/``None`` untouched)."""
    if isinstance(logger_config, list):
        return [_place(item, run_dir) if isinstance(item, Namespace) else item for item in logger_config]
    if isinstance(logger_config, Namespace):
        return _place(logger_config, run_dir)
    return logger_config

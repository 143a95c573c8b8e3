"""Starting (or joining) Ray quietly: no dashboard, no worker logs on the console, no ``~/ray_results``."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

#: Left out of the project folder shipped to a cluster: run outputs, environments, version control.
NOT_SHIPPED = ["runs/", "lightning_logs/", ".venv/", "venv/", ".git/", "*.ckpt", "__pycache__/"]


def ray_callbacks() -> list:
    """Ray's per-trial ``result.json`` and ``progress.csv``, not its TensorBoard logger (litproj writes its own)."""
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    # Ray's console output, even at verbose=0, announces the experiment; litproj prints its own progress.
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    # Short trials checkpoint every few seconds, which Ray would warn about on every state snapshot.
    os.environ["TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"] = "0"
    logging.getLogger("ray.tune").setLevel(logging.WARNING)

    return [JsonLoggerCallback(), CSVLoggerCallback()]


def runtime_env(address: str | None) -> dict | None:
    """Joining a cluster (``--address``, ``$RAY_ADDRESS``): ship the project folder (``configs/``, ``train.py``,
    code the configs name) as every worker's working directory, and the litproj package, so a trial on another
    node builds the same run as here. A local session's workers share this filesystem and need nothing."""
    if (address or os.environ.get("RAY_ADDRESS", "local")) == "local":
        return None
    import litproj
    from litproj.rundir import config_dir

    package = str(Path(litproj.__file__).resolve().parent)
    return {"working_dir": str(config_dir().parent), "py_modules": [package], "excludes": NOT_SHIPPED}


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[None]:
    """Use the running Ray session (tests share one), join ``address``/``RAY_ADDRESS``, or start a local one.

    A session started here is shut down on exit, so the command's last line is litproj's, not Ray's.
    """
    import ray

    if ray.is_initialized():
        yield
        return
    ray.init(
        address=address,
        runtime_env=runtime_env(address),
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        configure_logging=True,
    )
    try:
        yield
    finally:
        ray.shutdown()

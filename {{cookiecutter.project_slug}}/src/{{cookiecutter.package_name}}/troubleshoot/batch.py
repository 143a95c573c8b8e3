"""The per-device batch size of any DataModule: read it, change it, and know whether the run's config can hold it.

OOM recovery and the batch-size finder change one number, the DataModule's ``batch_size``; a DataModule
written the way Lightning's docs write them keeps it as an attribute (``self.batch_size``), in its
hyperparameters (``save_hyperparameters()``), or both. Both are kept in step, as Lightning's tuner does.
"""

from __future__ import annotations

import inspect

from {{ cookiecutter.package_name }}.errors import UserError


def data_name(datamodule) -> str:
    return type(datamodule).__name__ if datamodule is not None else "this run (no DataModule)"


def batch_size_of(datamodule) -> int | None:
    """The DataModule's ``batch_size`` attribute, else its ``hparams.batch_size``, when it is an int."""
    for value in (getattr(datamodule, "batch_size", None), _hparams(datamodule).get("batch_size")):
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
    return None


def set_batch_size(datamodule, value: int) -> None:
    """Set every place the DataModule keeps its batch size (the attribute and the saved hyperparameter)."""
    if hasattr(datamodule, "batch_size"):
        datamodule.batch_size = value
    hparams = _hparams(datamodule)
    if "batch_size" in hparams:
        hparams["batch_size"] = value


def require_batch_size(datamodule, flag: str, fix: str) -> int:
    """The batch size, or a one-line error for ``flag`` naming the DataModule that lacks one.

    Raises:
        UserError: ``--find_batch_size: MyData has no batch_size attribute to tune; ...``.
    """
    batch = batch_size_of(datamodule)
    if batch is None:
        raise UserError(f"{flag}: {data_name(datamodule)} has no batch_size attribute {fix}")
    return batch


def init_accepts(obj, name: str) -> bool:
    """Whether ``type(obj)(name=...)`` is valid, so ``config.yaml`` may hold ``init_args.<name>``."""
    if obj is None or type(obj).__init__ is object.__init__:
        return False
    try:
        parameters = inspect.signature(type(obj).__init__).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in parameters)


def _hparams(obj) -> dict:
    hparams = getattr(obj, "hparams", None)
    return hparams if isinstance(hparams, dict) else {}

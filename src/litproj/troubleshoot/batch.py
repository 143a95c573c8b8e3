"""The per-device batch size of any DataModule, the one number OOM recovery and the batch-size finder change: an
attribute, a ``save_hyperparameters()`` value or both, kept in step as Lightning's tuner does."""

from litproj.errors import UserError


def data_name(datamodule) -> str:
    return type(datamodule).__name__ if datamodule is not None else "this run (no DataModule)"


def _hparams(obj) -> dict:
    hparams = getattr(obj, "hparams", None)
    return hparams if isinstance(hparams, dict) else {}


def batch_size_of(datamodule) -> int | None:
    """The ``batch_size`` attribute, else ``hparams.batch_size``, when it is an int."""
    for value in (getattr(datamodule, "batch_size", None), _hparams(datamodule).get("batch_size")):
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
    return None


def set_batch_size(datamodule, value: int) -> None:
    if hasattr(datamodule, "batch_size"):
        datamodule.batch_size = value
    if "batch_size" in _hparams(datamodule):
        datamodule.hparams["batch_size"] = value


def require_batch_size(datamodule, flag: str, fix: str) -> int:
    """The batch size, or a one-line error for ``flag`` naming the DataModule that lacks one."""
    batch = batch_size_of(datamodule)
    if batch is None:
        raise UserError(f"{flag}: {data_name(datamodule)} has no batch_size attribute {fix}")
    return batch

"""Fill TensorBoard's HParams view with each run's final metrics, so runs can be compared there."""

from __future__ import annotations

from lightning_utilities.core.rank_zero import rank_zero_only
from pytorch_lightning import Callback
from pytorch_lightning.loggers import TensorBoardLogger


def _scalars(metrics: dict, prefixes: tuple[str, ...]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if k.startswith(prefixes) and v.numel() == 1}


def _flat(params: dict) -> dict:
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in params.items()}


class FinalMetricsToHParams(Callback):
    """Log hyperparameters together with the final ``val/*`` and ``test/*`` metrics.

    Lightning logs hyperparameters at the start of a fit, when no metric exists yet; the HParams view
    then shows nothing to compare. This writes them again at the end of testing, with the metrics.
    """

    def __init__(self) -> None:
        self.fit_metrics: dict[str, float] = {}

    def on_fit_end(self, trainer, pl_module) -> None:
        self.fit_metrics = _scalars(trainer.callback_metrics, ("val/",))

    @rank_zero_only
    def on_test_end(self, trainer, pl_module) -> None:
        metrics = {**self.fit_metrics, **_scalars(trainer.callback_metrics, ("test/",))}
        params = dict(pl_module.hparams)
        if trainer.datamodule is not None:
            params["data"] = type(trainer.datamodule).__name__
            params["batch_size"] = getattr(trainer.datamodule, "batch_size", None)
        params["max_epochs"] = trainer.max_epochs
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.log_hyperparams(_flat(params), metrics=metrics)

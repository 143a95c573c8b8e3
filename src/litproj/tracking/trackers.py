"""Say where each logger put the run (results.json ``trackers``) and close tracker runs before the summary."""

from __future__ import annotations

from pathlib import Path

from pytorch_lightning import Callback, Trainer
from pytorch_lightning.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger, WandbLogger


def _wandb(logger: WandbLogger) -> dict:
    run = logger._experiment  # only a run that was started; reading `.experiment` would start one
    if run is None:
        return {}
    found = {"wandb": {"dir": str(Path(run.dir).parent), "project": run.project, "group": run.group, "id": run.id}}
    # W&B closes runs at interpreter exit and prints its "wandb sync" hint then, after the results line that
    # tools read as the last one; closing here keeps that line last and frees the run for the next build.
    run.finish()
    return found


def _mlflow(logger: MLFlowLogger) -> dict:
    if logger._run_id is None:
        return {}
    return {
        "mlflow": {
            "tracking_uri": logger._tracking_uri,
            "experiment": logger._experiment_name,
            "run_id": logger._run_id,
        }
    }


def describe(logger: Logger) -> dict:
    """Where one logger wrote: a file or folder for local loggers, run ids for trackers."""
    if isinstance(logger, CSVLogger):
        return {"csv": logger.experiment.metrics_file_path}
    if isinstance(logger, TensorBoardLogger):
        return {"tensorboard": str(Path(logger.log_dir))}
    if isinstance(logger, WandbLogger):
        return _wandb(logger)
    if isinstance(logger, MLFlowLogger):
        return _mlflow(logger)
    return {type(logger).__name__: getattr(logger, "log_dir", None) or logger.save_dir}


class TrackerRuns(Callback):
    """Adds ``trackers`` to results.json: per logger, where its record of this run is.

    Tests, tune and people then find the metrics CSV, the offline W&B run or the MLflow run id without
    guessing paths. The report is taken once, when the run is over, so it is also where W&B runs end.
    """

    def __init__(self) -> None:
        self._trainer: Trainer | None = None

    def setup(self, trainer: Trainer, pl_module, stage: str) -> None:
        self._trainer = trainer

    def litproj_report(self) -> dict:
        if self._trainer is None or not self._trainer.is_global_zero:
            return {}
        trackers: dict = {}
        for logger in self._trainer.loggers:
            trackers.update(describe(logger))
        return {"trackers": trackers} if trackers else {}

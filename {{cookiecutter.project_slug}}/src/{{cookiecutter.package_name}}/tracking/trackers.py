"""What the trackers hold once a run is over: the final metrics beside the hyperparameters in TensorBoard's
HParams view, and where each logger put the run (results.json ``trackers``), W&B runs closed before the summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lightning_utilities.core.rank_zero import rank_zero_only
from pytorch_lightning import Callback, Trainer
from pytorch_lightning.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger, WandbLogger

from {{ cookiecutter.package_name }}.rundir import saved_callback_states
from {{ cookiecutter.package_name }}.tracking.provenance import provenance_hparams


def _scalars(metrics: dict, prefix: str) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if k.startswith(prefix) and v.numel() == 1}


class FinalMetricsToHParams(Callback):
    """Log hyperparameters again after testing, with the final ``val/*`` and ``test/*`` metrics: Lightning logs
    them when a fit starts, before any metric exists, which leaves the HParams view nothing to compare."""

    def __init__(self) -> None:
        self.fit_metrics: dict[str, float] = {}

    def on_fit_end(self, trainer, pl_module) -> None:
        self.fit_metrics = _scalars(trainer.callback_metrics, "val/")

    @rank_zero_only
    def on_test_end(self, trainer, pl_module) -> None:
        metrics = {**self.fit_metrics, **_scalars(trainer.callback_metrics, "test/")}
        params = dict(pl_module.hparams)
        if trainer.datamodule is not None:
            params.update(
                data=type(trainer.datamodule).__name__, batch_size=getattr(trainer.datamodule, "batch_size", None)
            )
        params["max_epochs"] = trainer.max_epochs
        params.update(provenance_hparams(trainer))  # git commit and dirty flag beside the run's settings
        flat = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in params.items()}
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.log_hyperparams(flat, metrics=metrics)


def describe(logger: Logger) -> dict:
    """Where one logger wrote: a file or folder for local loggers, run ids for trackers."""
    if isinstance(logger, CSVLogger):
        return {"csv": logger.experiment.metrics_file_path}
    if isinstance(logger, TensorBoardLogger):
        return {"tensorboard": str(Path(logger.log_dir))}
    if isinstance(logger, MLFlowLogger):
        client = logger.experiment  # the run Lightning started when it logged hyperparameters
        experiment = client.get_experiment(logger.experiment_id).name
        return {"mlflow": {"tracking_uri": client.tracking_uri, "experiment": experiment, "run_id": logger.run_id}}
    if isinstance(logger, WandbLogger):
        # The active run, never `logger.experiment` (it would start one), from wandb only if imported (a run that
        # never used W&B has none).
        run = getattr(sys.modules.get("wandb"), "run", None)
        if run is None or run.id != logger.version:
            return {}
        found = {"dir": str(Path(run.dir).parent), "project": run.project, "group": run.group, "id": run.id}
        # W&B closes runs at interpreter exit and prints its "wandb sync" hint then, after the results line that
        # tools read as the last one; closing here keeps that line last and frees the run for the next build.
        run.finish()
        return {"wandb": found}
    return {type(logger).__name__: getattr(logger, "log_dir", None) or logger.save_dir}


#: The run folder's record of its tracker runs, read back when a fit resumes there (one tracker run per training).
RECORD = "trackers.json"


def recorded_runs(run_dir: Path, checkpoint: str | None = None) -> dict:
    """The tracker runs recorded for ``run_dir`` (its trackers.json), else inside ``checkpoint``; ``{}`` if none."""
    try:
        recorded = json.loads((run_dir / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None
    if not isinstance(recorded, dict) and checkpoint is not None:
        recorded = saved_callback_states(Path(checkpoint)).get(TrackerRuns.__qualname__)
    return recorded if isinstance(recorded, dict) else {}


class TrackerRuns(Callback):
    """Adds ``trackers`` to results.json, so tests, tune and people find each logger's record without guessing;
    the report is taken once, when the run is over, so it is also where W&B runs end.

    When a fit starts it records the tracker runs' ids in the run folder (trackers.json) and in every checkpoint,
    so a resumed fit (``--ckpt_path``, after ``kill -9`` or a requeue) continues the same runs."""

    def __init__(self) -> None:
        self._trainer: Trainer | None = None
        self._ids: dict = {}

    def setup(self, trainer: Trainer, pl_module, stage: str) -> None:
        self._trainer = trainer

    def on_fit_start(self, trainer: Trainer, pl_module) -> None:
        if not trainer.is_global_zero:  # other ranks hold no tracker runs
            return
        self._ids = {}  # the ids that reopen this training's tracker runs
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                self._ids["wandb"] = {"id": logger.experiment.id}
            elif isinstance(logger, MLFlowLogger):
                self._ids["mlflow"] = {"run_id": logger.run_id, "tracking_uri": logger.experiment.tracking_uri}
        if self._ids:  # written before the first step: a run killed at any later point can be continued
            record = Path(trainer.default_root_dir) / RECORD
            record.write_text(json.dumps(self._ids, indent=2) + "\n", encoding="utf-8")

    def state_dict(self) -> dict:
        return dict(self._ids)

    def {{ cookiecutter.package_name }}_report(self) -> dict:
        if self._trainer is None or not self._trainer.is_global_zero:
            return {}
        trackers = {key: value for logger in self._trainer.loggers for key, value in describe(logger).items()}
        return {"trackers": trackers} if trackers else {}

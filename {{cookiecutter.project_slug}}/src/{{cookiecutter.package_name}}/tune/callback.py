"""{{ cookiecutter.package_name }}'s Ray Tune callback: what turns a train.py run into a trial a scheduler can judge and copy.

Written against ``pytorch_lightning`` on purpose: Ray's own Lightning callback binds to the
``lightning`` package whenever that is importable, and a ``lightning.pytorch`` callback is silently
ignored by a ``pytorch_lightning`` Trainer. This one works whichever Lightning packages are installed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.loggers import TensorBoardLogger

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.tune.mutations import KeepTrialOptimizerSettings

CHECKPOINT_FILE = "checkpoint.ckpt"
#: The words every missing-metric error carries (a search ends at the first trial that fails with them).
NOT_LOGGED = "the model never logs it"


def scalars(trainer: Trainer) -> dict[str, float]:
    """The trainer's single-number metrics: what a trial reports to Ray."""
    return {k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "numel", lambda: 0)() == 1}


def not_logged_message(metric: str, logged) -> str:
    names = ", ".join(sorted(logged)) or "none"
    return (
        f"--metric {metric}: {NOT_LOGGED} (logged: {names}). "
        "Pass tune.py --metric NAME --mode min|max, or log it with self.log in validation_step."
    )


class TuneReportCallback(KeepTrialOptimizerSettings):
    """Report the validation metrics to Ray at every validation end, with a checkpoint of the trial.

    Restored from another trial's checkpoint (a PBT exploit), the trial trains with its own optimizer
    settings, not the donor's (:class:`~{{ cookiecutter.package_name }}.tune.mutations.KeepTrialOptimizerSettings`).

    ``params`` (the sampled values) go to TensorBoard's HParams view. ``report`` and ``checkpoint_class``
    default to ``ray.tune``'s; a Ray Train worker passes ``ray.train``'s.

    Args:
        checkpoint_class: ``ray.tune.Checkpoint`` (default), ``ray.train.Checkpoint``, or ``False``: metrics only.
    """

    def __init__(self, metric: str, params: dict | None = None, report: Callable | None = None, checkpoint_class=None):
        super().__init__()
        self.metric = metric
        self.params = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in (params or {}).items()}
        self.report = report
        self.checkpoint_class = checkpoint_class

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return  # two batches of an untrained model say nothing about the trial
        metrics = scalars(trainer)
        if self.metric not in metrics:
            raise UserError(not_logged_message(self.metric, metrics))
        metrics.update(epoch=trainer.current_epoch + 1, step=trainer.global_step, run_dir=trainer.default_root_dir)
        for logger in trainer.loggers if trainer.is_global_zero and self.params else []:
            if isinstance(logger, TensorBoardLogger):  # its HParams view shows the values against the metric
                logger.log_hyperparams(self.params, {self.metric: metrics[self.metric]}, step=trainer.global_step)
        from ray import tune

        report = self.report or tune.report
        if self.checkpoint_class is False:  # metrics only: no checkpoint saved
            report(metrics)
            return
        with tempfile.TemporaryDirectory(prefix="{{ cookiecutter.package_name }}-trial-") as folder:
            trainer.save_checkpoint(Path(folder) / CHECKPOINT_FILE)
            checkpoint_class = self.checkpoint_class or tune.Checkpoint
            checkpoint = checkpoint_class.from_directory(folder) if trainer.is_global_zero else None
            report(metrics, checkpoint=checkpoint)

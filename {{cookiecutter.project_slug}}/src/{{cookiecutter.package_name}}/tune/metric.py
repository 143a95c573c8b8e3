"""The metric a search optimises, checked against what the module really logs before Ray starts.

``--metric``/``--mode`` win; otherwise the checkpoint's monitor, as train.py selects its best checkpoint.
A user's module rarely logs {{ cookiecutter.package_name }}'s ``val/acc``, so a one-batch ``fast_dev_run`` of the trial's
``train.py fit`` shows what a trial will report; where it cannot run on the driver, the trials check it
(:class:`{{ cookiecutter.package_name }}.tune.progress.MetricGuard`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator

from pytorch_lightning import Callback, LightningModule, Trainer

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.reliability.checkpointing import validation_loss
from {{ cookiecutter.package_name }}.tune.callback import not_logged_message, scalars
from {{ cookiecutter.package_name }}.tune.space import as_overrides

#: A dry run that trains one batch and validates one, wherever the user's flags put the trials.
DRY_RUN = [
    "--trainer.fast_dev_run", "1", "--trainer.accelerator", "cpu", "--trainer.devices", "1",
    "--trainer.num_nodes", "1", "--trainer.strategy", "auto", "--trainer.logger", "false",
    "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
]  # fmt: skip


class _FirstReport(Callback):
    """Records the metrics the first validation (not the sanity check) leaves, as a trial reports them."""

    metrics: set[str] | None = None

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking and self.metrics is None:
            self.metrics = set(scalars(trainer))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No output from the dry run (the search's output starts with its trials), and no run folder left behind."""
    previous_run_dir, previous_disable = os.environ.get("{{ cookiecutter.package_name | upper }}_RUN_DIR"), logging.root.manager.disable
    logging.disable(max(previous_disable, logging.WARNING))  # Lightning's handlers hold the real stderr
    try:
        muted = io.StringIO()
        with warnings.catch_warnings(), contextlib.redirect_stdout(muted), contextlib.redirect_stderr(muted):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous_disable)  # the caller's level, not NOTSET
        os.environ.pop("{{ cookiecutter.package_name | upper }}_RUN_DIR", None)
        if previous_run_dir is not None:
            os.environ["{{ cookiecutter.package_name | upper }}_RUN_DIR"] = previous_run_dir


def logged_metrics(train_args: list[str], values: dict) -> set[str] | None:
    """The metrics a trial with ``values`` reports at its first validation, or None when the dry run fails."""
    from {{ cookiecutter.package_name }}.cli import build
    from {{ cookiecutter.package_name }}.cli.args import prepare

    probe = _FirstReport()
    with tempfile.TemporaryDirectory(prefix="{{ cookiecutter.package_name }}-metric-") as folder, _quiet():
        where = ["--runs_dir", folder, "--name", "metric_check"]
        try:
            cli = build(prepare(["fit", *train_args, *as_overrides(values), *where, *DRY_RUN]), {"callbacks": [probe]})
            cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        except Exception:  # a trial would meet the same failure and report it in full
            return None
    return probe.metrics


def choose_metric(
    metric: str | None, mode: str | None, checkpoint, default_monitor: str | None, logged: set[str] | None
) -> tuple[str, str]:
    """``(metric, mode)`` of ``--metric``/``--mode`` or the ``checkpoint`` section, checked against ``logged``.

    Only {{ cookiecutter.package_name }}'s ``default_monitor`` falls back to a logged loss; ``logged`` None leaves the check to the trials.
    """
    monitor = checkpoint.monitor
    if metric is None:
        metric = monitor
        if logged is not None and metric not in logged and monitor in (None, default_monitor):
            metric = validation_loss(logged) or metric  # as train.py's checkpoint falls back
    if metric is None:
        raise UserError("--metric: the checkpoint monitors no metric; pass --metric NAME and --mode min|max.")
    if logged is not None and metric not in logged:
        raise UserError(not_logged_message(metric, logged))
    if mode or metric == monitor:
        return metric, mode or checkpoint.mode
    name = metric.lower()
    if "loss" in name or "err" in name:
        return metric, "min"
    if "acc" in name:
        return metric, "max"
    raise UserError(f"--metric {metric}: add --mode min or --mode max (whether higher is better is not clear).")

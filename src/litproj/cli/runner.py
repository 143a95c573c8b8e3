"""Run a stage end to end: what ``python train.py`` does, as a function that tests and tools call with an
argument list, returning the dict written to ``results.json``."""

from __future__ import annotations

import os
import sys

from pytorch_lightning import Trainer
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from pytorch_lightning.utilities.model_helpers import is_overridden

from litproj.cli import args as cli_args
from litproj.cli.app import LitCLI, build
from litproj.cli.export import export_checkpoint
from litproj.cli.predictions import PredictionWriter, check_predictable
from litproj.cli.quick_exit import skip_shutdown_collections
from litproj.cli.summary import collect_results, print_presets, report
from litproj.errors import UserError, exit_on_user_error, say
from litproj.reliability.preemption import exit_on_preemption
from litproj.rundir import RUN_DIR_ENV, discard_if_empty
from litproj.strategies import list_presets
from litproj.strategies.plan import print_plan
from litproj.strategies.spawn import restore_fit_progress
from litproj.troubleshoot import explain_errors, fit, preflight


def _metrics(trainer: Trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


def missing_hooks(model, data, step: str, loader: str) -> list[str]:
    """``"<Class> has no <hook>()"`` for the model's ``step`` and the data's ``loader`` that are not overridden."""
    return [
        f"{type(owner).__name__} has no {hook}()"
        for owner, hook in ((model, step), (data, loader))
        if owner is not None and not is_overridden(hook, owner)
    ]


def _can_test(model, data) -> bool:
    """Whether the test after fit can run; a module or data without a test loop skips it, saying so."""
    missing = missing_hooks(model, data, "test_step", "test_dataloader")
    if missing:
        say(f"{' and '.join(missing)}: no test after training.")
    return not missing


def execute(cli: LitCLI, stage: str) -> dict:
    """Run ``stage`` on built objects; Lightning's ``MisconfigurationException`` found mid-run (a monitored metric
    never logged, say) becomes a one-line user error."""
    trainer, model, data = cli.trainer, cli.model, cli.datamodule
    loading = {"datamodule": data, "ckpt_path": cli.ckpt_path, "weights_only": cli.weights_only}
    metrics: dict[str, float] = {}
    try:
        if stage in ("fit", cli_args.FIT_THEN_TEST):
            fit(cli)  # finders before, OOM recovery around trainer.fit
            restore_fit_progress(trainer)  # ddp_spawn: the ranks' progress, before the test and the summary
            metrics.update(_metrics(trainer))
            if stage == cli_args.FIT_THEN_TEST and _can_test(model, data):
                best = "best" if getattr(trainer.checkpoint_callback, "best_model_path", None) else None
                trainer.test(model, datamodule=data, ckpt_path=best, weights_only=cli.weights_only)
        elif stage in ("validate", "test"):
            getattr(trainer, stage)(model, **loading)
        elif stage == "predict":
            check_predictable(model, data)
            trainer.callbacks.append(PredictionWriter(cli.run_dir))
            trainer.predict(model, **loading, return_predictions=False)
        elif stage == "export":
            return collect_results(trainer, cli, stage, metrics) | export_checkpoint(cli, cli.invocation.export_format)
        metrics.update(_metrics(trainer))
        return collect_results(trainer, cli, stage, metrics)
    except MisconfigurationException as err:
        raise UserError(str(err)) from err


def run(argv: list[str] | None = None, trainer_defaults: dict | None = None) -> dict:
    """Parse ``argv`` like ``python train.py`` would, run it, and return the results dict (or raise UserError)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if cli_args.flag_value(argv, "--strategy") == "list":
        print_presets(list_presets())
        return {}
    invocation = cli_args.prepare(argv)
    if invocation.stage == "cv":
        from litproj.cli.cv import cross_validate  # imported here: cv trains each fold with execute() above

        return cross_validate(invocation, trainer_defaults)
    previous_run_dir = os.environ.get(RUN_DIR_ENV)
    try:
        cli = build(invocation, trainer_defaults)
        if cli.config.plan:
            return print_plan(cli)
        if preflight(cli):  # shape and precision checks; True after --summary: nothing to run
            return {}
        results = execute(cli, invocation.stage)
    finally:
        if previous_run_dir is None:
            discard_if_empty(os.environ.pop(RUN_DIR_ENV, None))
    if cli.trainer.is_global_zero:
        report(results)
        if results.get("exported"):  # after results: the line scripts that ship the model read
            print(f"exported: {results['exported']}", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``train.py``: one-line errors with exit code 2 unless ``--debug``."""
    command_line = argv is None
    argv = sys.argv[1:] if argv is None else argv
    debug = cli_args.wants_debug(argv)
    with exit_on_user_error(debug), explain_errors(debug), exit_on_preemption():
        run(argv)
    if command_line:
        skip_shutdown_collections()

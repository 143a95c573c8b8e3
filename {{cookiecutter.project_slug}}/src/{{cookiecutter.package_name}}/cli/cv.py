"""``python train.py cv --data.folds N``: K-fold cross-validation, one ordinary training per fold.

Each fold is ``train.py --data.folds N --data.fold K`` built afresh by :func:`{{ cookiecutter.package_name }}.cli.app.build` (nothing leaks
from one fold to the next) in ``<run>/fold_<K>``, a complete run folder, trained by the runner's own fit path and
scored by validating its best checkpoint on the held-out fold. The cv run folder gets ``results.json`` (every fold's
scores, their mean and standard deviation) and ``oof_predictions.csv`` (:mod:`{{ cookiecutter.package_name }}.cli.oof`). The folds come from
the DataModule (:mod:`{{ cookiecutter.package_name }}.data.folds`): a user's DataModule takes part by accepting ``folds`` and ``fold``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from rich.console import Console
from rich.table import Table

from {{ cookiecutter.package_name }} import rundir
from {{ cookiecutter.package_name }}.cli.app import LitCLI, build
from {{ cookiecutter.package_name }}.cli.args import Invocation, flag_value
from {{ cookiecutter.package_name }}.cli.export import load_weights
from {{ cookiecutter.package_name }}.cli.oof import OOF_FILE, HeldOut, OutOfFold, predict_held_out
from {{ cookiecutter.package_name }}.cli.parse_errors import import_class, init_parameters
from {{ cookiecutter.package_name }}.cli.runner import execute, missing_hooks
from {{ cookiecutter.package_name }}.cli.summary import write_results
from {{ cookiecutter.package_name }}.data.folds import check_folds
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.strategies.plan import print_plan
from {{ cookiecutter.package_name }}.troubleshoot import preflight

FOLD_ARGUMENTS = ("folds", "fold")


def _int_flag(args: list[str], flag: str) -> int | None:
    value = flag_value(args, flag)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise UserError(f"{flag}: expected a whole number (got {value}).") from None


def check_cv(invocation: Invocation) -> tuple[int, list[int]]:
    """``(folds, the folds to train)``, or one line saying what stops cv, before anything is built or trained."""
    args = invocation.args
    folds, only = _int_flag(args, "--data.folds"), _int_flag(args, "--data.fold")
    if not folds:
        raise UserError("cv: pass --data.folds N, the number of folds (e.g. cv --data.folds 5).")
    check_folds(folds, 0 if only is None else only)
    if flag_value(args, "--ckpt_path") is not None:
        raise UserError("cv: --ckpt_path does not apply, every fold trains from the start; drop it.")
    cls = import_class(invocation.class_path("data") or "")  # None: the build says why it cannot be imported
    if cls is not None and not set(FOLD_ARGUMENTS) <= set(init_parameters(cls)):
        raise UserError(
            f"cv: {cls.__name__} has no `folds` and `fold` arguments; cv needs a DataModule that does: derive it "
            "from {{ cookiecutter.package_name }}.data.ClassificationDataModule (make_splits() then gets folds for free), or add "
            "`folds: int = 0, fold: int | None = None` to its __init__ and validate on part `fold` of `folds`."
        )
    return folds, [only] if only is not None else list(range(folds))


def _score(cli: LitCLI, best: str | None) -> dict[str, float]:
    """The fold's metrics: its best checkpoint (the last weights without one) validated on the held-out fold."""
    try:
        found = cli.trainer.validate(
            cli.model, datamodule=cli.datamodule, ckpt_path=best, weights_only=cli.weights_only, verbose=False
        )
    except MisconfigurationException as err:
        raise UserError(str(err)) from err
    return {key: float(value) for scores in found for key, value in sorted(scores.items())}


def run_fold(invocation: Invocation, folder: Path, folds: int, fold: int, trainer_defaults: dict | None):
    """Build and train fold ``fold``; ``(cli, results, scores)``, or ``None`` after ``--plan``/``--summary``."""
    args = [*invocation.args, "--data.folds", str(folds), "--data.fold", str(fold)]
    cli = build(dataclasses.replace(invocation, args=args, run_dir=folder), trainer_defaults)
    if cli.config.plan:
        print_plan(cli)
        return None
    if preflight(cli):
        return None
    # A fold's score is its validation: a module or data without a validation loop cannot be cross-validated.
    if missing := missing_hooks(cli.model, cli.datamodule, "validation_step", "val_dataloader"):
        raise UserError(f"cv: {' and '.join(missing)}; each fold is scored by validating on its held-out part.")
    results = execute(cli, "fit")
    scores = _score(cli, results.get("best_checkpoint"))
    results["metrics"].update(scores)  # the fold's own results.json: the fit's metrics, the best ones validated
    results["fold"] = {"index": fold, "folds": folds}
    return cli, results, scores


def held_out(cli: LitCLI, fold: int, best: str | None) -> HeldOut | str:
    """The fold's predictions on its held-out part with its best checkpoint's weights (loaded here, not left by
    ``validate``, which under ``ddp_spawn`` loads them in other processes); the last weights without one."""
    if best is not None and Path(best).is_dir():
        return "the best checkpoint is a sharded folder (--strategy fsdp)"
    if best is not None:
        load_weights(cli.model, best, trust=not cli.weights_only)
    return predict_held_out(cli.model, cli.datamodule.val_dataloader(), fold, cli.trainer.strategy.root_device)


def summarize(per_fold: list[dict]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and standard deviation (numpy's, ddof=0, as scikit-learn reports) of each metric every fold has."""
    keys = [key for key in per_fold[0]["metrics"] if all(key in fold["metrics"] for fold in per_fold)]
    values = {key: np.array([fold["metrics"][key] for fold in per_fold]) for key in keys}
    return {k: float(v.mean()) for k, v in values.items()}, {k: float(v.std()) for k, v in values.items()}


def print_cv(results: dict) -> None:
    """One row per fold and the mean ± std row, like the summary of a single run."""
    keys = list(results["mean"])
    table = Table(title=f"{{ cookiecutter.package_name }} · {results['experiment']} · cv ({results['folds']} folds)")
    table.add_column("fold", style="bold cyan", no_wrap=True)
    for key in keys:
        table.add_column(key, justify="right", no_wrap=True)
    for fold in results["per_fold"]:
        table.add_row(str(fold["fold"]), *(f"{fold['metrics'][key]:.4f}" for key in keys))
    mean_std = [f"{results['mean'][key]:.4f} ± {results['std'][key]:.4f}" for key in keys]
    table.add_row("mean ± std", *mean_std, style="bold")
    Console().print(table)
    print(f"run directory: {results['run_dir']} (a fold_<k> run folder per fold)")
    if results.get("oof_predictions"):
        print(f"out-of-fold predictions: {results['oof_predictions']} (accuracy {results['oof_accuracy']:.4f})")
    elif results.get("oof_note"):
        print(results["oof_note"])


def cross_validate(invocation: Invocation, trainer_defaults: dict | None = None) -> dict:
    """Train every fold (or ``--data.fold K`` alone); the cv results, also written to the cv run's ``results.json``."""
    if any(arg in ("-h", "--help") or arg.startswith("--print_config") for arg in invocation.args):
        build(invocation)  # the parser prints what was asked and exits, as for any stage
    folds, chosen = check_cv(invocation)
    runs_dir, name = invocation.run_location()
    parent = rundir.scratch_run_dir() if rundir.is_child_rank() else rundir.new_run_dir(runs_dir, name)
    previous_run_dir = os.environ.get(rundir.RUN_DIR_ENV)
    oof, per_fold, zero = OutOfFold(parent / OOF_FILE), [], True
    try:
        for fold in chosen:
            done = run_fold(invocation, parent / f"fold_{fold}", folds, fold, trainer_defaults)
            if done is None:
                return {}
            cli, results, scores = done
            zero = cli.trainer.is_global_zero
            if not zero:  # the other ranks took part in training and scoring; rank 0 writes
                continue
            write_results(results)
            shown = ", ".join(f"{key} {value:.4f}" for key, value in scores.items()) or "no validation metrics"
            print(f"fold {fold} of {folds}: {shown} · {results['run_dir']}", flush=True)
            best = results["best_checkpoint"]
            per_fold.append({"fold": fold, "metrics": scores, "run_dir": results["run_dir"], "best_checkpoint": best})
            if oof.wanted:
                oof.add(held_out(cli, fold, best), getattr(cli.datamodule, "class_names", None))
    finally:
        os.environ.pop(rundir.RUN_DIR_ENV, None)
        if previous_run_dir is not None:
            os.environ[rundir.RUN_DIR_ENV] = previous_run_dir
        rundir.discard_if_empty(parent)  # a cv stopped before any fold wrote a file leaves no folder
    if not zero:
        return {}
    mean, std = summarize(per_fold)
    results = {
        "stage": "cv",
        "experiment": name,
        "folds": folds,
        "per_fold": per_fold,
        "mean": mean,
        "std": std,
        **oof.report(),
        "run_dir": str(parent),
    }
    path = write_results(results)
    print_cv(results)
    print(f"results: {path}", flush=True)
    return results

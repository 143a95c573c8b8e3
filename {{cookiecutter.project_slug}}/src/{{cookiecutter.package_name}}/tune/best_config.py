"""``best.yaml``: the best trial's configuration as a file that ``python train.py --config`` runs as is."""

from __future__ import annotations

from pathlib import Path

from {{ cookiecutter.package_name }}.tune.results import TrialRow
from {{ cookiecutter.package_name }}.tune.train_config import dump_config, parse_train_args


def best_checkpoint(run_dir: str | None) -> str | None:
    """The best trial's best checkpoint (``python train.py test --ckpt_path ...`` tests it)."""
    folder = Path(run_dir) / "checkpoints" if run_dir else None
    found = sorted(folder.glob("best*.ckpt")) if folder and folder.is_dir() else []
    return str(found[-1]) if found else None


def write_best_config(plan, best: TrialRow) -> Path:
    """Parse the user's overrides plus the best values with train.py's parser and dump the full config.

    Dumping the parsed config (rather than copying the trial's saved ``config.yaml``) leaves out what
    only a trial needs: its run folder, the progress bar it turned off, the CPU accelerator of CPU trials.
    """
    cli = parse_train_args(plan.train_args, best.values)
    value = f"{best.best:.4f}" if best.best is not None else "-"
    header = (
        f"Best trial {best.trial_id} of {plan.options.search} + {plan.scheduler} search {plan.search_dir}\n"
        f"{plan.metric} = {value} after {best.epochs} epochs; searched values: {best.values}\n"
        f"Train it: python train.py --config {plan.search_dir / 'best.yaml'}"
    )
    path = plan.search_dir / "best.yaml"
    path.write_text(dump_config(cli, header))
    return path

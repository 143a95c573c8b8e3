"""train.py's own parser on a search's arguments: checks a search before Ray starts and writes ``best.yaml``.

A typo in a space key or an override then fails once, in one line, instead of in every trial; the parsed
config gives the search its defaults (metric, epochs, seed) and, for the best trial, ``best.yaml``.
"""

from __future__ import annotations

from pathlib import Path

from {{ cookiecutter.package_name }}.cli.app import LitCLI
from {{ cookiecutter.package_name }}.cli.args import prepare
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.tune.space import as_overrides


class _ParseOnly(LitCLI):
    """LitCLI that stops after parsing: no run folder, no model, no data."""

    def before_instantiate_classes(self) -> None:
        pass

    def instantiate_classes(self) -> None:
        pass


def parse_train_args(train_args: list[str], values: dict | None = None) -> _ParseOnly:
    """Parse ``train.py fit TRAIN_ARGS`` with ``values`` applied as dotted overrides (they win)."""
    return _ParseOnly(prepare(["fit", *train_args, *as_overrides(values or {})]))


def check_train_args(train_args: list[str], examples: list[dict], space_path: str | Path | None) -> _ParseOnly:
    """Parse the user's overrides alone, then with each set of the space's values, so an error names its source.

    Returns the parse with the first set of values (what the search's defaults are read from).
    """
    parsed = [parse_train_args(train_args)]
    for values in examples:
        try:
            parsed.append(parse_train_args(train_args, values))
        except UserError as err:
            raise UserError(f"--space {space_path}: {err}") from err
    return parsed[min(1, len(parsed) - 1)]


def write_best_config(plan, best) -> Path:
    """Parse the user's overrides plus the best values with train.py's parser and dump the full config.

    Dumping the parsed config (rather than copying the trial's saved ``config.yaml``) leaves out what
    only a trial needs: its run folder, the progress bar it turned off, the CPU accelerator of CPU trials.
    """
    cli = parse_train_args(plan.train_args, best.values)
    config = cli.config.clone()
    config.name = None  # the experiment is then named after the file (best.yaml -> runs/best/)
    config.ckpt_path = None
    path = plan.search_dir / "best.yaml"
    value = f"{best.best:.4f}" if best.best is not None else "-"
    header = (
        f"Best trial {best.trial_id} of {plan.options.search} + {plan.scheduler} search {plan.search_dir}\n"
        f"{plan.metric} = {value} after {best.epochs} epochs; searched values: {best.values}\n"
        f"Train it: python train.py --config {path}"
    )
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    path.write_text(comments + cli.parser.dump(config, skip_none=False), encoding="utf-8")
    return path

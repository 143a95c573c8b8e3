"""Parse a trial's train.py arguments without building anything: checks a search before Ray starts.

The same LightningCLI parser that every trial uses reads the user's overrides plus one value of every
searched key; a typo in a space key or an override fails here, in one line, instead of in every trial.
The parsed config also gives the search its defaults (monitored metric, epochs, seed) and is what
``best.yaml`` is written from.
"""

from __future__ import annotations

from pathlib import Path

from litproj.cli.app import LitCLI
from litproj.cli.args import prepare
from litproj.errors import UserError
from litproj.tune.space import as_overrides


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


def dump_config(cli: _ParseOnly, header: str) -> str:
    """The parsed config as a YAML file for ``python train.py --config``: complete, with no run-specific paths."""
    config = cli.config.clone()
    config.name = None  # the experiment is then named after the file (best.yaml -> runs/best/)
    config.ckpt_path = None
    text = cli.parser.dump(config, skip_none=False)
    return "".join(f"# {line}\n" for line in header.splitlines()) + text

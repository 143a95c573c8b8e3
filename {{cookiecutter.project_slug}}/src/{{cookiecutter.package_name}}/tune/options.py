"""tune.py's own flags, parsed with jsonargparse; every other argument is a train.py override.

A search takes the same overrides as ``train.py`` (``--trainer.max_epochs 3``, ``--config x.yaml``),
so tune.py only claims the flags below and hands the rest, untouched and in order, to each trial.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jsonargparse import ArgumentParser
from jsonargparse.typing import NonNegativeInt, PositiveInt

from {{ cookiecutter.package_name }}.errors import UserError, did_you_mean


@dataclass
class TuneOptions:
    """What to search and how; ``train_args`` are the train.py overrides every trial receives."""

    search: str = "random"
    scheduler: str | None = None
    space: str | None = None
    num_samples: int | None = None
    max_concurrent: int | None = None
    trial_resources: str = "cpu=1"
    trial_workers: int = 1
    max_failures: int = 1
    metric: str | None = None
    mode: str | None = None
    resume: str | None = None
    address: str | None = None
    storage: str | None = None
    train_args: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> TuneOptions:
        return cls(**json.loads(path.read_text()))


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="tune.py",
        description="Hyperparameter search with Ray Tune. Arguments not listed here (e.g. --trainer.max_epochs 3, "
        "--config x.yaml) are train.py overrides given to every trial; see python train.py --help.",
        exit_on_error=False,
        default_env=False,
    )
    parser.add_argument("--search", type=str, default="random", help="grid, random, optuna, hyperopt or bohb.")
    parser.add_argument("--scheduler", type=str | None, default=None, help="fifo, asha (default), hyperband or pbt.")
    parser.add_argument("--space", type=str | None, default=None, help="Search space YAML (default configs/tune/).")
    parser.add_argument("--num_samples", type=PositiveInt | None, default=None, help="Trials (grid: repeats).")
    parser.add_argument("--max_concurrent", type=PositiveInt | None, default=None, help="Trials at once.")
    parser.add_argument("--trial_resources", type=str, default="cpu=1", help="Per trial, e.g. cpu=1,gpu=0.5.")
    parser.add_argument("--trial_workers", type=PositiveInt, default=1, help="DDP workers per trial (Ray Train).")
    parser.add_argument("--max_failures", type=NonNegativeInt, default=1, help="Retries of a crashing trial.")
    parser.add_argument("--metric", type=str | None, default=None, help="Metric to optimise (checkpoint.monitor).")
    parser.add_argument("--mode", type=str | None, default=None, help="min or max (default checkpoint.mode).")
    parser.add_argument("--resume", type=str | None, default=None, help="Continue the search in this folder.")
    parser.add_argument("--address", type=str | None, default=None, help="Ray cluster address ('auto').")
    parser.add_argument("--storage", type=str | None, default=None, help="Shared folder for searches (runs/tune).")
    return parser


def _flag_names(parser: ArgumentParser) -> set[str]:
    """``--search``, ``--scheduler``, ...: one flag per default (public API; the help flags have none)."""
    return {f"--{key}" for key in parser.get_defaults().keys()}  # noqa: SIM118 (a Namespace has no __iter__)


def split_argv(argv: list[str], own: set[str]) -> tuple[list[str], list[str]]:
    """Separate tune.py's flags (``--flag value`` or ``--flag=value``) from the train.py overrides."""
    mine, rest = [], []
    i = 0
    while i < len(argv):
        name = argv[i].split("=", 1)[0]
        if name in own and "=" in argv[i]:
            mine.append(argv[i])
        elif name in own:
            if i + 1 >= len(argv):
                raise UserError(f"{name} needs a value. See python tune.py --help.")
            mine += argv[i : i + 2]
            i += 1
        else:
            rest.append(argv[i])
        i += 1
    return mine, rest


def parse(argv: list[str]) -> TuneOptions:
    """Parse tune.py's command line; mistakes become a :class:`UserError` naming the flag."""
    parser = _parser()
    if any(a in ("-h", "--help") for a in argv):
        parser.print_help()
        raise SystemExit(0)
    mine, rest = split_argv(argv, _flag_names(parser))
    try:
        namespace = parser.parse_args(mine)
    except argparse.ArgumentError as err:
        raise UserError(f"tune.py: {' '.join(str(err).split())}") from err
    options = TuneOptions(**{k: v for k, v in namespace.as_dict().items() if k != "config"}, train_args=rest)
    if options.mode not in (None, "min", "max"):
        raise UserError(f"--mode: expected min or max, got '{options.mode}'.")
    _reject_misspelled_flags(rest, _flag_names(parser))
    if "--ckpt_path" in rest or any(a.startswith("--ckpt_path=") for a in rest):
        raise UserError("--ckpt_path: trials start from scratch (or from Ray's checkpoints); use --resume DIR.")
    return options


def _reject_misspelled_flags(rest: list[str], own: set[str]) -> None:
    """``--num-samples`` or ``--num_sample`` would reach train.py as unknown; name tune.py's flag instead."""
    for arg in rest:
        name = arg.split("=", 1)[0]
        if name.startswith("--") and "." not in name and name not in _TRAIN_TOP_LEVEL:
            hint = did_you_mean(name.replace("-", "_").replace("__", "--", 1), own)
            if hint:
                raise UserError(f"unknown option {name}.{hint} See python tune.py --help.")


#: train.py's top-level flags (no dot), which tune.py passes through to every trial; ``--model X`` names
#: the user's own class (and is not a misspelled ``--mode``).
_TRAIN_TOP_LEVEL = {
    "--seed_everything", "--seed", "--strategy", "--name", "--runs_dir", "--debug", "--config", "--model", "--data",
    "--trainer", "--checkpoint", "--optimizer", "--lr_scheduler", "--plan", "--trust_checkpoint", "--dist_timeout",
}  # fmt: skip

"""tune.py's own flags, parsed with jsonargparse; every other argument is a train.py override.

A search takes the same overrides as ``train.py`` (``--trainer.max_epochs 3``, ``--config x.yaml``),
so tune.py only claims the flags below and hands the rest, untouched and in order, to each trial.
"""

from __future__ import annotations

import argparse

from jsonargparse import ArgumentParser, Namespace
from jsonargparse.typing import NonNegativeInt, PositiveInt

from {{ cookiecutter.package_name }}.errors import UserError, did_you_mean

#: train.py's top-level flags (no dot), which tune.py passes through to every trial; ``--model X`` names
#: the user's own class (and is not a misspelled ``--mode``).
TRAIN_TOP_LEVEL = {
    "--seed_everything", "--seed", "--strategy", "--name", "--runs_dir", "--debug", "--config", "--model", "--data",
    "--trainer", "--checkpoint", "--optimizer", "--lr_scheduler", "--plan", "--trust_checkpoint", "--dist_timeout",
}  # fmt: skip


def flag_name(arg: str) -> str:
    """``--flag`` of ``--flag`` or ``--flag=value``."""
    return arg.split("=", 1)[0]


def parse(argv: list[str]) -> Namespace:
    """tune.py's flags plus ``train_args``, the train.py overrides every trial receives; mistakes are one line."""
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
    parser.add_argument(
        "--around", type=str | None, default=None, help="A search's best.yaml: search a finer space around it."
    )
    parser.add_argument("--address", type=str | None, default=None, help="Ray cluster address ('auto').")
    parser.add_argument("--storage", type=str | None, default=None, help="Shared folder for searches (runs/tune).")
    if any(a in ("-h", "--help") for a in argv):
        parser.print_help()
        raise SystemExit(0)
    own = {f"--{key}" for key in parser.get_defaults().keys()}  # noqa: SIM118 (a Namespace has no __iter__)
    mine: list[str] = []
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if flag_name(arg) not in own:
            rest.append(arg)
        elif "=" in arg:
            mine.append(arg)
        else:
            value = next(args, None)
            if value is None:
                raise UserError(f"{arg} needs a value. See python tune.py --help.")
            mine += [arg, value]
    try:
        options = parser.parse_args(mine)
    except argparse.ArgumentError as err:
        raise UserError(f"tune.py: {' '.join(str(err).split())}") from err
    options.train_args = rest
    if options.mode not in (None, "min", "max"):
        raise UserError(f"--mode: expected min or max, got '{options.mode}'.")
    for name in map(flag_name, rest):  # --num-samples would reach train.py as unknown: name tune.py's flag
        if name.startswith("--") and "." not in name and name not in TRAIN_TOP_LEVEL:
            hint = did_you_mean(name.replace("-", "_").replace("__", "--", 1), own)
            if hint:
                raise UserError(f"unknown option {name}.{hint} See python tune.py --help.")
    if "--ckpt_path" in map(flag_name, rest):
        raise UserError("--ckpt_path: trials start from scratch (or from Ray's checkpoints); use --resume DIR.")
    return options

"""Reading the raw command line before LightningCLI parses it: stage, preset, experiment name.

A few decisions must be made before parsing: which stage to run (``fit`` then ``test`` when no
subcommand is given), which strategy preset file to layer under the user's configs, and which saved
config belongs to a checkpoint passed to ``test``/``validate``/``predict``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from {{ cookiecutter.package_name }}.rundir import run_dir_of
from {{ cookiecutter.package_name }}.strategies import preset_path

STAGES = ("fit", "validate", "test", "predict")
FIT_THEN_TEST = "fit+test"
#: Config folders whose files add an option (a logger, a strategy) rather than name an experiment.
OPTION_FOLDERS = ("logger", "strategy")


def flag_values(args: list[str], *flags: str) -> list[str]:
    """Every value given to any of ``flags`` (``--flag value`` or ``--flag=value``), in order."""
    values = []
    for i, arg in enumerate(args):
        for flag in flags:
            if arg == flag and i + 1 < len(args):
                values.append(args[i + 1])
            elif arg.startswith(flag + "="):
                values.append(arg.split("=", 1)[1])
    return values


def flag_value(args: list[str], *flags: str) -> str | None:
    values = flag_values(args, *flags)
    return values[-1] if values else None


def is_true(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes", "on")


@dataclass
class Invocation:
    """What to run: the stage, the arguments for the parser, and the default experiment name."""

    stage: str
    args: list[str]
    experiment: str
    debug: bool


def wants_debug(args: list[str]) -> bool:
    """``--debug`` alone, or ``--debug true``: show tracebacks instead of one-line errors."""
    if "--debug" not in args and not any(a.startswith("--debug=") for a in args):
        return False
    value = flag_value(args, "--debug")
    return value is None or value.startswith("--") or is_true(value)


def prepare(argv: list[str]) -> Invocation:
    """Split off the subcommand, expand ``--strategy NAME`` into its preset file, pick the experiment name."""
    args = list(argv)
    stage = args.pop(0) if args and args[0] in STAGES else FIT_THEN_TEST
    configs = flag_values(args, "--config", "-c")
    prefix: list[str] = []
    strategy = flag_value(args, "--strategy")
    if strategy and strategy != "list":  # "list" prints the presets (runner.run)
        prefix += ["--config", str(preset_path(strategy))]
    ckpt = flag_value(args, "--ckpt_path")
    if stage in ("validate", "test", "predict") and ckpt and not configs and Path(ckpt).exists():
        saved = run_dir_of(Path(ckpt)) / "config.yaml"
        if saved.is_file():
            prefix = ["--config", str(saved), *prefix]
    naming = [c for c in configs if Path(c).parent.name not in OPTION_FOLDERS]
    experiment = Path(naming[-1]).stem if naming else "default"
    return Invocation(stage, prefix + args, experiment, wants_debug(args))

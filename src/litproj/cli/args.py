"""The raw command line, read before LightningCLI parses it: which stage to run (``fit`` then ``test`` when no
subcommand is given), which preset file to layer under the user's configs, which saved config belongs to a
checkpoint passed to ``test``/``validate``/``predict``, and the experiment's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from litproj.rundir import run_dir_of
from litproj.strategies import preset_path

#: The example pair, used when neither the command line nor a ``--config`` file names a class.
DEFAULT_CLASSES = {"model": "litproj.module.ImageClassifier", "data": "litproj.data.DigitsDataModule"}
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
    return next(reversed(flag_values(args, *flags)), None)


def _classes_in_config(path: Path) -> set[str]:
    try:
        node = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return set()  # the parser reports unreadable files in one line (parse_errors)
    if not isinstance(node, dict):
        return set()
    sections = {group: node.get(group) for group in DEFAULT_CLASSES}
    return {g for g, v in sections.items() if isinstance(v, str) or (isinstance(v, dict) and "class_path" in v)}


def default_classes(args: list[str]) -> list[str]:
    """``--model``/``--data`` flags for the example classes, for each group whose class no flag or config names.

    Only given when needed, never overridden: jsonargparse keeps the init args of the previous class when
    ``class_path`` changes, so ``DigitsDataModule(batch_size=64)`` would leak ``batch_size`` into the user's class.
    """
    named = {g for g in DEFAULT_CLASSES if flag_values(args, f"--{g}", f"--{g}.class_path")}
    for config in flag_values(args, "--config", "-c"):
        named |= _classes_in_config(Path(config))
    return [item for group, path in DEFAULT_CLASSES.items() if group not in named for item in (f"--{group}", path)]


def _class_flag_at(args: list[str], index: int, group: str) -> int:
    """How many items from ``index`` make a flag naming ``group``'s class (0, 1 or 2)."""
    arg = args[index]
    if arg in (f"--{group}", f"--{group}.class_path"):
        return 2 if index + 1 < len(args) else 0
    return 1 if arg.startswith((f"--{group}=", f"--{group}.class_path=")) else 0


def class_flags_first(args: list[str]) -> list[str]:
    """Move ``--data my.Data`` before a ``--data.limit 100`` given ahead of it, which jsonargparse would read
    against the class named so far (none) and reject."""
    args = list(args)
    for group in DEFAULT_CLASSES:
        first_option = next((i for i, a in enumerate(args) if a.startswith(f"--{group}.")), None)
        for i in range(len(args)):
            size = _class_flag_at(args, i, group)
            if size and first_option is not None and first_option < i:
                flag = args[i : i + size]
                del args[i : i + size]
                args[first_option:first_option] = flag
                first_option += size
    return args


@dataclass
class Invocation:
    """What to run: the stage, the arguments for the parser, and the default experiment name."""

    stage: str
    args: list[str]
    experiment: str


def wants_debug(args: list[str]) -> bool:
    """``--debug`` alone, or ``--debug true``: show tracebacks instead of one-line errors."""
    if "--debug" not in args and not any(a.startswith("--debug=") for a in args):
        return False
    value = flag_value(args, "--debug")
    return value is None or value.startswith("--") or value.lower() in ("1", "true", "yes", "on")


def prepare(argv: list[str]) -> Invocation:
    """Split off the subcommand, expand ``--strategy NAME`` into its preset file, pick the experiment name."""
    args = class_flags_first(argv)
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
    prefix = default_classes(prefix + args) + prefix
    naming = [c for c in configs if Path(c).parent.name not in OPTION_FOLDERS]
    experiment = Path(naming[-1]).stem if naming else "default"
    return Invocation(stage, prefix + args, experiment)

"""The raw command line, read before LightningCLI parses it: which stage to run (``fit`` then ``test`` when no
subcommand is given), which preset file to layer under the user's configs, which saved config belongs to the
checkpoint ``--ckpt_path`` names (:mod:`litproj.cli.resume`), and the experiment's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from litproj.cli.export import take_format
from litproj.cli.resume import Resume, from_checkpoint
from litproj.strategies import preset_path

#: The example pair, used when neither the command line nor a ``--config`` file names a class.
DEFAULT_CLASSES = {"model": "litproj.module.ImageClassifier", "data": "litproj.data.DigitsDataModule"}
STAGES = ("fit", "validate", "test", "predict", "export", "cv")
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


def top_level(path: Path) -> dict:
    try:
        node = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}  # the parser reports unreadable files in one line (parse_errors)
    return node if isinstance(node, dict) else {}


def _setting(args: list[str], configs: list[str], key: str, default: str) -> str:
    """A top-level option as the parser will see it: the last flag, else the last config that sets it."""
    given = [flag_value(args, f"--{key}"), *(top_level(Path(c)).get(key) for c in reversed(configs))]
    return next((str(value) for value in given if value is not None), default)


def default_classes(args: list[str]) -> list[str]:
    """``--model``/``--data`` flags for the example classes, for each group whose class no flag or config names.
    Only then: jsonargparse keeps the previous class's init args when ``class_path`` changes, so
    ``DigitsDataModule(batch_size=64)`` would leak ``batch_size`` into the user's class."""
    named = {g for g in DEFAULT_CLASSES if flag_values(args, f"--{g}", f"--{g}.class_path")}
    for config in flag_values(args, "--config", "-c"):
        sections = {group: top_level(Path(config)).get(group) for group in DEFAULT_CLASSES}
        named |= {g for g, v in sections.items() if isinstance(v, str) or (isinstance(v, dict) and "class_path" in v)}
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
    #: The checkpoint ``--ckpt_path`` resumes from, and the saved config it brought (``None`` without the flag).
    resume: Resume | None = None
    #: ``export``'s ``--format``, taken off the arguments (:func:`litproj.cli.export.take_format`).
    export_format: str | None = None
    #: The run folder, when the caller chose it (``cv``'s ``fold_<k>`` folders); ``None``: the next free version.
    run_dir: Path | None = None

    def run_location(self) -> tuple[str, str]:
        """``(runs_dir, name)`` as the parser will see them, before it runs."""
        configs = flag_values(self.args, "--config", "-c")
        return _setting(self.args, configs, "runs_dir", "runs"), _setting(self.args, configs, "name", self.experiment)

    def class_path(self, group: str) -> str | None:
        """The class the parser will build for ``group`` (``model``/``data``): the last flag or config naming it."""
        named = None
        for i in range(len(self.args)):
            if size := _class_flag_at(self.args, i, group):
                named = self.args[i + 1] if size == 2 else self.args[i].split("=", 1)[1]
            elif config := flag_values(self.args[i : i + 2], "--config", "-c")[:1]:
                section = top_level(Path(config[0])).get(group)
                section = section.get("class_path") if isinstance(section, dict) else section
                named = section if isinstance(section, str) else named
        return named


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
    export_format, args = take_format(args) if stage == "export" else (None, args)
    prefix: list[str] = []
    strategy = flag_value(args, "--strategy")
    if strategy and strategy != "list":  # "list" prints the presets (runner.run)
        prefix += ["--config", str(preset_path(strategy))]
    naming = [c for c in flag_values(args, "--config", "-c") if Path(c).parent.name not in OPTION_FOLDERS]
    experiment = Path(naming[-1]).stem if naming else "default"
    ckpt = flag_value(args, "--ckpt_path")
    resume = None
    if ckpt and stage != "cv":  # cv refuses --ckpt_path (litproj.cli.cv)
        resume = from_checkpoint(ckpt, *Invocation(stage, args, experiment).run_location(), args)
    if resume is not None:  # the saved config first: everything the user typed overrides it
        prefix = [*resume.config_args(), *prefix]
        args = [*args, "--ckpt_path", str(resume.checkpoint)]  # 'last'/'best' as found before the saved name applies
    prefix = default_classes(prefix + args) + prefix
    return Invocation(stage, prefix + args, experiment, resume, export_format)

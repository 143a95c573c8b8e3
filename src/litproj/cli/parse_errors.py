"""Turn jsonargparse's nested, multi-line errors into one line that names the flag or ``--config`` file and the
fix: jsonargparse names no file for a YAML error, and says "Group 'trainer' does not accept option 'max_epoch'"
for a typo in one, or "Does not validate against any of the Union subtypes" for a constructor's own error."""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
from collections.abc import Iterable
from pathlib import Path

import yaml

from litproj.cli.args import DEFAULT_CLASSES, flag_values, top_level
from litproj.errors import UserError, did_you_mean

_NOISE = (
    "Does not validate against any of the Union subtypes",
    "Subtypes:",
    "Errors:",
    "Given value",
    "Expected a <class 'NoneType'>",
    "Problem with given class_path",
)


def import_class(class_path: str) -> type | None:
    """The class ``class_path`` names, or ``None`` when it cannot be imported (the parser says why, in one line)."""
    module_name, _, name = class_path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), name) if module_name else None
    except (ImportError, AttributeError, ValueError):
        return None
    return found if inspect.isclass(found) else None


def init_parameters(cls: type | None) -> list[str]:
    """Constructor parameter names of a class and its bases (following ``**kwargs`` up the MRO, as the parser does);
    none for ``None`` (a class :func:`import_class` could not import)."""
    names: list[str] = []
    for klass in inspect.getmro(cls) if cls is not None else ():
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):  # a constructor in C: nothing more to read
            break
        names += [p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "self"]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names


def known_options(parser) -> list[str]:
    """The options ``parser`` accepts, from public API: each default's key (``--trainer.max_epochs``), the groups
    above it (``--trainer``), the example classes' parameters, and ``--seed`` and the help flags, which have none."""
    try:
        defaults = parser.get_defaults(skip_validation=True)
        keys = [k for k in defaults.keys() if not k.startswith("__")]  # noqa: SIM118 (a Namespace has no __iter__)
    except argparse.ArgumentError:  # a broken default config file: suggest from the fixed flags only
        keys = []
    groups = {".".join(k.split(".")[:n]) for k in keys for n in range(1, k.count(".") + 2)}
    known = ["--seed", "--help", "--print_config", *sorted(f"--{g}" for g in groups)]
    return known + [
        f"--{g}.{p}" for g, default in DEFAULT_CLASSES.items() for p in init_parameters(import_class(default))
    ]


def constructor_error(err: BaseException, classes: dict[str, str]) -> UserError | None:
    """The :class:`UserError` a constructor raised (jsonargparse wraps it), else one line for a constructor that
    rejected its arguments, or ``None``; ``classes``: group -> class path."""
    seen: set[int] = set()
    link: BaseException | None = err
    while link is not None and id(link) not in seen:
        if isinstance(link, UserError):
            return link
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    given = re.search(r"Given value: Namespace\(class_path='([^']+)'(?:, init_args=Namespace\((.*)\))?\)", str(err))
    cause = err.__cause__
    while cause is not None and cause.__cause__ is not None and "Union subtypes" in str(cause):
        cause = cause.__cause__
    if given is None or cause is None:
        return None
    class_path, init_args = given.group(1), given.group(2) or ""
    group = next((g for g, path in classes.items() if path == class_path), "model")
    reason = " ".join(str(cause).split()) or type(cause).__name__
    return UserError(
        f"--{group}: {class_path}({init_args}) raised {type(cause).__name__}: {reason}. Fix the argument it names "
        "in your flags or --config (--debug shows the traceback)."
    )


def _config_files(args: list[str]) -> list[Path]:
    return [Path(value) for value in flag_values(args, "--config", "-c") if Path(value).is_file()]


def _syntax_error(args: list[str]) -> str | None:
    for path in _config_files(args):
        try:
            yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            return f"--config {path}: invalid YAML at{where} {problem}. Fix the file (indentation, brackets, quotes)."
    return None


def _file_with_key(args: list[str], group: str, option: str) -> Path | None:
    for path in reversed(_config_files(args)):
        node: object = top_level(path)
        for key in group.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and (option in node or option in (node.get("init_args") or {})):
            return path
    return None


def _config_error(message: str, args: list[str], known: Iterable[str]) -> str | None:
    if message.startswith("Problems parsing config"):
        return _syntax_error(args)
    match = re.search(r"Group '([^']+)' does not accept option '([^']+)'", message)
    if not match:
        return None
    group, option = match.groups()
    path = _file_with_key(args, group, option)
    where = f"--config {path}" if path else "--config"
    suggestion = did_you_mean(f"--{group}.{option}", known).replace("'--", "'")
    return f"{where}: unknown key '{group}.{option}'.{suggestion}"


def _reason(message: str) -> str:
    literals = re.findall(r"Expected a typing\.Literal\[(.*?)\]\n", message + "\n")
    if literals:
        return f"expected one of {', '.join(literals)}"
    for line in message.splitlines():
        line = re.sub(r'^Parser key "[^"]+":\s*', "", line.strip(" -"))
        if line and not any(n in line for n in _NOISE):
            return line
    return message.splitlines()[-1].strip()


def explain(message: str, args: list[str], known: list[str]) -> str:
    """One line for a parse error of the command line ``args``: which flag or file, what was wrong, and (for
    typos) the closest of the ``known`` options."""
    in_config = _config_error(message, args, known)
    if in_config:
        return in_config
    unknown = re.search(r"unrecognized arguments: (\S+)", message)
    if unknown:
        flag = unknown.group(1).split("=", 1)[0]
        return f"unknown option {flag}.{did_you_mean(flag, known)} See python train.py --help."
    keys = [k for k in re.findall(r'Parser key "([^"]+)"', message) if k != "init_args"]
    key = ".".join(k.replace(".init_args", "") for k in keys)
    not_accepted = re.search(r"Option '([^']+)' is not accepted", message)
    if not_accepted:
        class_path = re.search(r"class_path '([^']+)'", message)
        candidates = init_parameters(import_class(class_path.group(1))) if class_path else []
        option = not_accepted.group(1)
        where = f" of {class_path.group(1)}" if class_path else ""
        return f"unknown option --{key}.{option}{where}.{did_you_mean(option, candidates)}"
    required = re.search(r"the following arguments are required: ([\w, ]+)", message)
    class_path = re.search(r"class_path='([^']+)'", message)
    if required and class_path and key:
        names = [name.strip() for name in required.group(1).split(",")]
        flags = " ".join(f"--{key}.{name} VALUE" for name in names)
        return f"--{key}: {class_path.group(1)} needs {', '.join(names)}: pass {flags} (or set it in a --config)."
    reason = re.sub(
        r"Not of type (\w+): (?:(\S+) )?does not conform to restriction (.+)",
        lambda m: f"must satisfy {m.group(3)} ({m.group(1)})" + (f", got {m.group(2)}" if m.group(2) else ""),
        _reason(message),
    )
    given = re.search(r"Given value: (.+)", message)
    value = f" (got {given.group(1).strip()})" if given and "NestedArg" not in given.group(1) else ""
    if key == "config":
        return f"--config: {reason}"
    return f"--{key}: {reason}{value}" if key else f"{reason}{value}"

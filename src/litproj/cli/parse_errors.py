"""Turn jsonargparse's nested, multi-line parse errors into one line that names the flag and the fix."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterable

from litproj.errors import did_you_mean

_NOISE = (
    "Does not validate against any of the Union subtypes",
    "Subtypes:",
    "Errors:",
    "Given value",
    "Expected a <class 'NoneType'>",
    "Problem with given class_path",
)


def class_parameters(class_path: str) -> list[str]:
    """Constructor parameter names of a class and its bases (following ``**kwargs`` up the MRO)."""
    module_name, _, name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        return []
    names: list[str] = []
    for klass in inspect.getmro(cls):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names += [p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "self"]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names


def constructor_error(err: BaseException, classes: dict[str, str]) -> str | None:
    """One line for a constructor that rejected its arguments while jsonargparse instantiated it, or ``None``.

    jsonargparse reports it as a multi-line "Does not validate against any of the Union subtypes" with the
    constructor's own exception as the cause. ``classes`` maps a group (``model``) to its class path.
    """
    given = re.search(r"Given value: Namespace\(class_path='([^']+)'(?:, init_args=Namespace\((.*)\))?\)", str(err))
    cause = err.__cause__
    while cause is not None and cause.__cause__ is not None and "Union subtypes" in str(cause):
        cause = cause.__cause__
    if given is None or cause is None:
        return None
    class_path, init_args = given.group(1), given.group(2) or ""
    group = next((g for g, path in classes.items() if path == class_path), "model")
    reason = " ".join(str(cause).split()) or type(cause).__name__
    return (
        f"--{group}: {class_path}({init_args}) raised {type(cause).__name__}: {reason}. Fix the argument it names "
        "in your flags or --config (--debug shows the traceback)."
    )


def _unknown_option(message: str, known: Iterable[str]) -> str | None:
    match = re.search(r"unrecognized arguments: (\S+)", message)
    if not match:
        return None
    flag = match.group(1).split("=", 1)[0]
    return f"unknown option {flag}.{did_you_mean(flag, known)} See python train.py --help."


def _key_path(message: str) -> str:
    keys = [k for k in re.findall(r'Parser key "([^"]+)"', message) if k != "init_args"]
    return ".".join(k.replace(".init_args", "") for k in keys)


def _reason(message: str) -> str:
    literals = re.findall(r"Expected a typing\.Literal\[(.*?)\]\n", message + "\n")
    if literals:
        return f"expected one of {', '.join(literals)}"
    for line in message.splitlines():
        line = re.sub(r'^Parser key "[^"]+":\s*', "", line.strip(" -"))
        if line and not any(n in line for n in _NOISE):
            return line
    return message.splitlines()[-1].strip()


def explain(message: str, known_options: Iterable[str]) -> str:
    """One line for a parse error: which flag, what was wrong, and (for typos) the closest valid flag."""
    unknown = _unknown_option(message, known_options)
    if unknown:
        return unknown
    key = _key_path(message)
    not_accepted = re.search(r"Option '([^']+)' is not accepted", message)
    if not_accepted:
        class_path = re.search(r"class_path '([^']+)'", message)
        candidates = class_parameters(class_path.group(1)) if class_path else []
        option = not_accepted.group(1)
        where = f" of {class_path.group(1)}" if class_path else ""
        return f"unknown option --{key}.{option}{where}.{did_you_mean(option, candidates)}"
    required = re.search(r"the following arguments are required: ([\w, ]+)", message)
    class_path = re.search(r"class_path='([^']+)'", message)
    if required and class_path and key:
        names = [name.strip() for name in required.group(1).split(",")]
        flags = " ".join(f"--{key}.{name} VALUE" for name in names)
        return f"--{key}: {class_path.group(1)} needs {', '.join(names)}: pass {flags} (or set it in a --config)."
    reason = _reason(message)
    reason = re.sub(
        r"Not of type (\w+): (?:(\S+) )?does not conform to restriction (.+)",
        lambda m: f"must satisfy {m.group(3)} ({m.group(1)})" + (f", got {m.group(2)}" if m.group(2) else ""),
        reason,
    )
    given = re.search(r"Given value: (.+)", message)
    value = f" (got {given.group(1).strip()})" if given and "NestedArg" not in given.group(1) else ""
    if key == "config":
        return f"--config: {reason}"
    return f"--{key}: {reason}{value}" if key else f"{reason}{value}"

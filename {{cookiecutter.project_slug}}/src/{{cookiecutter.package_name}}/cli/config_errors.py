"""One line for mistakes inside ``--config`` files: which file, where, and the closest valid key.

jsonargparse reports a YAML syntax error without the file name, and an unknown key in a file as
"Group 'trainer' does not accept option 'max_epoch'". With several ``--config`` files (presets,
experiments, your own) the user needs to know which file to open and what was meant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import yaml

from {{ cookiecutter.package_name }}.cli.args import flag_values
from {{ cookiecutter.package_name }}.errors import did_you_mean


def _config_files(args: list[str]) -> list[Path]:
    return [Path(value) for value in flag_values(args, "--config", "-c") if Path(value).is_file()]


def _syntax_error(args: list[str]) -> str | None:
    for path in _config_files(args):
        try:
            yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            return f"--config {path}: invalid YAML at{where} {problem}. Fix the file (indentation, brackets, quotes)."
    return None


def _file_with_key(args: list[str], group: str, option: str) -> Path | None:
    for path in reversed(_config_files(args)):
        try:
            node = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
            continue
        for key in group.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and (option in node or option in (node.get("init_args") or {})):
            return path
    return None


def explain_config_error(message: str, args: list[str], known_options: Iterable[str]) -> str | None:
    """A one-line explanation for an error in a config file, or ``None`` when the error is not about one."""
    if message.startswith("Problems parsing config"):
        return _syntax_error(args)
    match = re.search(r"Group '([^']+)' does not accept option '([^']+)'", message)
    if not match:
        return None
    group, option = match.groups()
    path = _file_with_key(args, group, option)
    where = f"--config {path}" if path else "--config"
    suggestion = did_you_mean(f"--{group}.{option}", known_options).replace("'--", "'")
    return f"{where}: unknown key '{group}.{option}'.{suggestion}"

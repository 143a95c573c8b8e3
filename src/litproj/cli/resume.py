"""Rebuild a run from its checkpoint alone: ``--ckpt_path`` puts the ``config.yaml`` saved in the checkpoint's run
folder under the command line, so ``python train.py --ckpt_path .../last.ckpt`` resumes (and ``test``, ``validate``,
``predict`` or any later stage evaluates) the model it was trained with, without repeating a flag. Flags given on
top still win, and the ones that change something are named in one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from litproj import rundir
from litproj.errors import UserError, say

#: Flags never taken from the saved config: trust is granted by each command, never inherited from a file.
NOT_INHERITED = ["--trust_checkpoint", "false"]
_MISSING = object()
_VERBS = {"test": "testing", "validate": "validating", "predict": "predicting", "export": "exporting"}


@dataclass
class Resume:
    """The checkpoint ``--ckpt_path`` names, its run's saved config (``None`` if it has none), the user's changes."""

    checkpoint: Path
    config: Path | None
    changes: list[str] = field(default_factory=list)

    def config_args(self) -> list[str]:
        """Arguments that go before everything the user typed (they override these)."""
        return ["--config", str(self.config), *NOT_INHERITED] if self.config else []

    def announce(self, stage: str) -> None:
        """One line saying where the settings came from (rank 0 only)."""
        if self.config is None:
            # A file outside any run folder (a download, Ray Tune's PBT copies): the flags are all there is.
            if self.checkpoint.parent.name == "checkpoints":
                say(
                    f"--ckpt_path: {rundir.run_dir_of(self.checkpoint)} has no config.yaml; the run is built from the "
                    "flags given, so give the ones it was trained with."
                )
            return
        verb = "resuming" if stage.startswith("fit") else _VERBS.get(stage, stage)
        changed = f"changes: {' '.join(self.changes)} (the rest from {self.config})"
        say(f"{verb} with {changed if self.changes else f'{self.config}, unchanged'}")


def from_checkpoint(value: str, runs_dir: str, experiment: str, args: list[str]) -> Resume | None:
    """What ``--ckpt_path value`` (a path, or ``last``/``best`` of ``experiment``) resumes from, with the flags among
    ``args`` that differ from its saved config; ``None`` when there is no such checkpoint yet: the parser's own
    check then reports it with the experiment name the configs give."""
    try:
        checkpoint = rundir.latest_checkpoint(runs_dir, experiment, value) if value in ("last", "best") else Path(value)
    except UserError:
        return None
    if not checkpoint.exists():
        return None
    saved = rundir.run_dir_of(checkpoint) / "config.yaml"
    if not saved.is_file():
        return Resume(checkpoint, None)
    try:
        settings = yaml.safe_load(saved.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        settings = None  # the parser reports an unreadable config in one line
    return Resume(checkpoint, saved, changes(args, settings if isinstance(settings, dict) else {}))


def _saved_value(settings: dict, dotted: str) -> object:
    """The value of ``--a.b.c`` in a saved config, looking through ``init_args`` (``--model.backbone``)."""
    node: object = settings
    for key in dotted.split("."):
        if isinstance(node, dict) and key not in node and isinstance(node.get("init_args"), dict):
            node = node["init_args"]
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[key]
    return node


def _as_yaml(value: str) -> object:
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def changes(args: list[str], settings: dict) -> list[str]:
    """The flags in ``args`` that change ``settings`` (``--trainer.max_epochs 4`` over a saved 2), as typed;
    ``--ckpt_path`` and flags repeating a saved value (``--runs_dir`` the run used) are left out."""
    found: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("--"):
            continue
        flag, value = arg.split("=", 1) if "=" in arg else (arg, None)
        if value is None and i < len(args) and not args[i].startswith("--"):
            value, i = args[i], i + 1
        if flag == "--ckpt_path":
            continue
        if value is not None and flag != "--config" and _saved_value(settings, flag[2:]) == _as_yaml(value):
            continue
        found.append(arg if value is None or "=" in arg else f"{flag} {value}")
    return found

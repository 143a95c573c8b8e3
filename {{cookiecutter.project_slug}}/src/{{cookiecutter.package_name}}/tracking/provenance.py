"""Which code, packages and machine made a run, written into its folder as the Trainer sets up (rank 0, tens of
milliseconds): ``provenance.json`` (command line, git commit and dirty flag, Python/torch/CUDA versions, host, seed),
``code.patch`` (``git diff HEAD`` when the tree has changes, capped) and ``environment.txt`` (installed packages).

A checkpoint alone cannot say which code produced it; its run folder can. No git, no checkout or a slow one (each
git call has a short timeout) is a note in ``provenance.json``, never an error. The short commit and the dirty flag
also go to results.json, to every logger's hyperparameters and into each checkpoint (``provenance``).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytorch_lightning
import torch
from pytorch_lightning import Callback

from {{ cookiecutter.package_name }}.errors import say

FILES = ("provenance.json", "code.patch", "environment.txt")
PATCH_LIMIT = 1_000_000  # bytes of diff kept: a run folder is not the place for a dataset someone forgot to ignore
GIT_TIMEOUT = 5.0  # seconds per git call; a network file system or a huge tree must not hold up training


def _git(git: str, folder: Path, *args: str) -> bytes | None:
    """Output of one git command, or ``None`` when it fails or times out."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            [git, "-c", "core.quotePath=false", *args], cwd=folder, capture_output=True, timeout=GIT_TIMEOUT, env=env
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _folders(pl_module) -> list[Path]:
    """Where the user's code may be: the working folder, the entry script's folder, the module's source folder."""
    found = [Path.cwd()]
    if sys.argv and sys.argv[0].endswith(".py"):
        found.append(Path(sys.argv[0]).resolve().parent)
    source = getattr(sys.modules.get(type(pl_module).__module__), "__file__", None)
    if source:
        found.append(Path(source).resolve().parent)
    return [folder for i, folder in enumerate(found) if folder.is_dir() and folder not in found[:i]]


def _patch(diff: bytes, root: Path, commit: str, untracked: list[str]) -> bytes:
    """``git diff HEAD`` with comment lines on top (``git apply`` skips them), cut at PATCH_LIMIT bytes."""
    lines = [f"# {{ cookiecutter.package_name }}: the work tree of {root} against commit {commit} (git apply code.patch on that commit)"]
    if untracked:
        lines.append(f"# untracked files, not in this patch: {', '.join(untracked)}")
    if len(diff) > PATCH_LIMIT:
        kept = diff[: diff.rfind(b"\n", 0, PATCH_LIMIT) + 1]
        lines.append(f"# TRUNCATED: the first {len(kept)} of {len(diff)} bytes of the diff; the rest is not recorded")
        diff = kept
    return "\n".join(lines).encode() + b"\n" + diff


def git_state(folders: list[Path]) -> tuple[dict, bytes | None]:
    """(what provenance.json says about git, code.patch's bytes or None) for the first folder inside a checkout."""
    git = shutil.which("git")
    if git is None:
        return {"note": "git is not installed: no commit recorded"}, None
    root = next((out for folder in folders if (out := _git(git, folder, "rev-parse", "--show-toplevel"))), None)
    if root is None:
        return {"note": f"not a git checkout: {', '.join(map(str, folders))}; no commit recorded"}, None
    top = Path(root.decode().strip())
    status = _git(git, top, "status", "--porcelain=v2", "--branch")
    if status is None:
        return {"root": str(top), "note": "git status failed or timed out; no commit recorded"}, None
    lines = status.decode(errors="replace").splitlines()
    heads = dict(line[2:].split(" ", 1) for line in lines if line.startswith("# ") and " " in line[2:])
    commit = heads.get("branch.oid", "(initial)")
    untracked = [line[2:] for line in lines if line.startswith("? ")]
    dirty = any(line[:2] in ("1 ", "2 ", "u ") for line in lines)
    info: dict = {"root": str(top), "branch": heads.get("branch.head"), "dirty": dirty, "untracked": untracked}
    if commit == "(initial)":
        return {**info, "commit": None, "short_commit": None, "note": "no commit yet"}, None
    info.update(commit=commit, short_commit=commit[:7])
    diff = _git(git, top, "diff", "HEAD", "--no-color", "--no-ext-diff") if dirty else b""
    if diff is None:
        return {**info, "note": "git diff failed or timed out: no code.patch"}, None
    return info, _patch(diff, top, commit, untracked) if dirty or untracked else None


def environment() -> str:
    """``name==version`` per installed distribution, editable and VCS installs marked with their source.

    The METADATA header is read directly: parsing every file as an e-mail (``dist.metadata``) is ten times slower.
    """
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        header = (dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "").split("\n\n", 1)[0]
        fields = dict(line.split(": ", 1) for line in header.splitlines() if line.startswith(("Name: ", "Version: ")))
        name = fields.get("Name")
        if not name or name.lower() in found:  # the first on sys.path is the one Python imports
            continue
        line = f"{name}=={fields.get('Version', '?')}"
        origin = json.loads(dist.read_text("direct_url.json") or "{}")
        if origin.get("dir_info", {}).get("editable") or "vcs_info" in origin:
            line += f"  # {'editable ' if 'dir_info' in origin else ''}{origin.get('url', '')}"
        found[name.lower()] = line
    return "\n".join(sorted(found.values(), key=str.lower)) + "\n"


def versions(trainer) -> dict:
    device = trainer.strategy.root_device
    info = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "pytorch_lightning": pytorch_lightning.__version__,
        "accelerator": type(trainer.accelerator).__name__,
        "devices": trainer.num_devices,
        "nodes": trainer.num_nodes,
    }
    if device.type == "cuda":  # CUDA is initialised by now: naming the device costs nothing
        info.update(gpu=torch.cuda.get_device_name(device), cudnn=torch.backends.cudnn.version())
    return info


class Provenance(Callback):
    """Writes the provenance files into ``run_dir`` once per command, and logs the commit to every logger.

    A resumed run (same run folder, a later command) moves the earlier session's files to ``earlier/<n>/``.
    """

    def __init__(self, run_dir: str | Path, arguments: list[str] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.arguments = list(arguments or [])  # what the CLI parsed: differs from the command in tests and trials
        self.session = uuid.uuid4().hex  # pickled into ddp_spawn workers: one write per command, not per stage
        self.hparams: dict = {}

    def _read(self) -> dict | None:
        path = self.run_dir / FILES[0]
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def _archive(self) -> None:
        earlier = self.run_dir / "earlier"
        target = earlier / str(sum(1 for _ in earlier.iterdir()) + 1 if earlier.is_dir() else 1)
        target.mkdir(parents=True)
        for name in FILES:
            if (self.run_dir / name).is_file():
                (self.run_dir / name).rename(target / name)

    def write(self, trainer, pl_module) -> dict:
        start = time.perf_counter()
        git, patch = git_state(_folders(pl_module))
        if "note" in git:
            say(f"{git['note']} (provenance.json)")
        seed = os.environ.get("PL_GLOBAL_SEED")  # set by seed_everything, which LightningCLI calls
        record: dict = {
            "session": self.session,
            "started": datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": shlex.join(sys.orig_argv),
            "arguments": self.arguments,
            "cwd": str(Path.cwd()),
            "hostname": socket.gethostname(),
            "seed": int(seed) if seed and seed.lstrip("-").isdigit() else None,
            "git": {**git, "patch": FILES[1] if patch is not None else None},
            "versions": versions(trainer),
            "environment": FILES[2],
        }
        if patch is not None:
            (self.run_dir / FILES[1]).write_bytes(patch)
        (self.run_dir / FILES[2]).write_text(environment(), encoding="utf-8")
        record["seconds"] = round(time.perf_counter() - start, 4)
        (self.run_dir / FILES[0]).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        return record

    def setup(self, trainer, pl_module, stage: str) -> None:
        if not trainer.is_global_zero:
            return
        record = self._read()
        if record is None or record.get("session") != self.session:
            if record is not None:
                self._archive()
            record = self.write(trainer, pl_module)
        git = record["git"]
        self.hparams = {"git_commit": git["short_commit"], "git_dirty": git["dirty"]} if git.get("commit") else {}
        for logger in trainer.loggers if self.hparams else []:
            try:
                logger.log_hyperparams(self.hparams)
            except Exception as err:  # e.g. MLflow refusing a changed value on a resumed run: never stop training
                say(f"{type(logger).__name__} did not take the git commit as a hyperparameter: {err}")

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if self.hparams:
            checkpoint["provenance"] = dict(self.hparams)

    def {{ cookiecutter.package_name }}_report(self) -> dict:
        record = self._read()
        if record is None:
            return {}
        git = record["git"]
        commit, dirty = git.get("short_commit"), git.get("dirty")
        changes = f", uncommitted changes in {FILES[1]}" if dirty else ""
        summary = git.get("note", "no commit") if commit is None else commit + changes
        files = str(self.run_dir / FILES[0])
        return {"provenance": {"git_commit": commit, "git_dirty": dirty, "file": files, "summary": summary}}


def provenance_hparams(trainer) -> dict:
    """The git hyperparameters a :class:`Provenance` callback of ``trainer`` logged (empty without one)."""
    return next((dict(c.hparams) for c in trainer.callbacks if isinstance(c, Provenance)), {})

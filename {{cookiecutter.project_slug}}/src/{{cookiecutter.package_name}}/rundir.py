"""Where runs go and where configs come from: ``runs/<experiment>/version_<n>``, and the ``configs/`` folder.

A run folder is created once per run and never reused except to resume. The configs folder is
``${{ cookiecutter.package_name | upper }}_CONFIG_DIR``, the checkout's ``configs/``, or ``./configs``.

Every file a run writes (TensorBoard events, checkpoints, config, results) lands in one folder, so a
run can be copied, compared or deleted as a unit. The folder is chosen once by the launching process
and handed to DDP's child processes through an environment variable, so all ranks agree on it.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path

from {{ cookiecutter.package_name }}.errors import UserError

RUN_DIR_ENV = "{{ cookiecutter.package_name | upper }}_RUN_DIR"
_VERSION = re.compile(r"version_(\d+)$")


def _versions(experiment_dir: Path) -> list[tuple[int, Path]]:
    if not experiment_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in experiment_dir.iterdir() if (m := _VERSION.search(p.name))]
    return sorted(found)


def is_child_rank() -> bool:
    """True in processes that a launcher (Lightning, torchrun, srun) started for ranks other than 0."""
    return any(os.environ.get(var, "0") != "0" for var in ("LOCAL_RANK", "RANK", "NODE_RANK", "SLURM_PROCID"))


def scratch_run_dir() -> Path:
    """A folder for a rank that torchrun or SLURM started without the run folder (they start every rank alike).

    Such a rank keeps nothing: Lightning broadcasts rank 0's checkpoint folder, and rank 0 logs and reports.
    The folder only takes what the loggers touch on the other ranks, and is removed when the process exits.
    """
    path = Path(tempfile.mkdtemp(prefix="{{ cookiecutter.package_name }}-rank-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def new_run_dir(runs_dir: str | Path, experiment: str) -> Path:
    """Create the next free ``version_<n>`` folder (atomically, so concurrent runs never share one)."""
    experiment_dir = Path(runs_dir) / experiment
    experiment_dir.mkdir(parents=True, exist_ok=True)
    versions = _versions(experiment_dir)
    number = versions[-1][0] + 1 if versions else 0
    while True:
        candidate = experiment_dir / f"version_{number}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            number += 1


def discard_if_empty(run_dir: str | Path | None) -> None:
    """Remove a run folder that holds no file (a run that failed before writing anything leaves no litter),
    and its experiment folder when that is left empty. Only the launching process (rank 0) removes."""
    if run_dir is None or is_child_rank() or not Path(run_dir).is_dir():
        return
    if any(p.is_file() for p in Path(run_dir).rglob("*")):
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    experiment_dir = Path(run_dir).parent
    if experiment_dir.is_dir() and not any(experiment_dir.iterdir()):
        experiment_dir.rmdir()


def latest_checkpoint(runs_dir: str | Path, experiment: str, which: str = "last") -> Path:
    """The newest run's ``last.ckpt`` (``which='last'``) or best checkpoint (``which='best'``)."""
    for _, run in reversed(_versions(Path(runs_dir) / experiment)):
        folder = run / "checkpoints"
        if which == "last" and (folder / "last.ckpt").exists():
            return folder / "last.ckpt"
        best = sorted(p for p in folder.glob("best*.ckpt")) if folder.is_dir() else []
        if which == "best" and best:
            return best[-1]
    raise UserError(
        f"--ckpt_path {which}: no {which} checkpoint for experiment '{experiment}' under "
        f"{Path(runs_dir) / experiment}. Train first, or pass a checkpoint file."
    )


def run_dir_of(checkpoint: Path) -> Path:
    """The run folder a checkpoint belongs to (``<run>/checkpoints/x.ckpt`` -> ``<run>``)."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


REPO_ROOT = Path(__file__).resolve().parents[2]


def config_dir() -> Path:
    """The configs folder: ``${{ cookiecutter.package_name | upper }}_CONFIG_DIR``, the repository's ``configs/``, or ``./configs``."""
    if "{{ cookiecutter.package_name | upper }}_CONFIG_DIR" in os.environ:
        return Path(os.environ["{{ cookiecutter.package_name | upper }}_CONFIG_DIR"])
    repo_configs = REPO_ROOT / "configs"
    return repo_configs if repo_configs.is_dir() else Path.cwd() / "configs"


def default_config() -> Path:
    return config_dir() / "default.yaml"

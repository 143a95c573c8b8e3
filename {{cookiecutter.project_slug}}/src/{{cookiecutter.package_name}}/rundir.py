"""Where runs go (``runs/<experiment>/version_<n>``) and where configs come from (the ``configs/`` folder).

Every file a run writes lands in one folder, so a run can be copied, compared or deleted as a unit. The
launching process chooses it once and hands it to DDP's child processes in ``${{ cookiecutter.package_name | upper }}_RUN_DIR``.
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
    found = experiment_dir.iterdir() if experiment_dir.is_dir() else []
    return sorted((int(m.group(1)), p) for p in found if (m := _VERSION.search(p.name)))


def is_child_rank() -> bool:
    """True in processes that a launcher (Lightning, torchrun, srun) started for ranks other than 0."""
    return any(os.environ.get(var, "0") != "0" for var in ("LOCAL_RANK", "RANK", "NODE_RANK", "SLURM_PROCID"))


def scratch_run_dir() -> Path:
    """A throwaway folder for a rank that torchrun or SLURM started without the run folder (rank 0 keeps all)."""
    path = Path(tempfile.mkdtemp(prefix="{{ cookiecutter.package_name }}-rank-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def new_run_dir(runs_dir: str | Path, experiment: str) -> Path:
    """Create the next free ``version_<n>`` folder (atomically, so concurrent runs never share one)."""
    experiment_dir = Path(runs_dir) / experiment
    experiment_dir.mkdir(parents=True, exist_ok=True)
    number = max((n for n, _ in _versions(experiment_dir)), default=-1) + 1
    while True:
        candidate = experiment_dir / f"version_{number}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            number += 1


def discard_if_empty(run_dir: str | Path | None) -> None:
    """Remove a run folder, and then its experiment folder, holding no file: a failed run leaves no litter."""
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
        best = sorted(folder.glob("best*.ckpt"))
        if which == "best" and best:
            return best[-1]
    raise UserError(
        f"--ckpt_path {which}: no {which} checkpoint for experiment '{experiment}' under "
        f"{Path(runs_dir) / experiment}. Train first, or pass a checkpoint file."
    )


def run_dir_of(checkpoint: Path) -> Path:
    """The run folder a checkpoint belongs to (``<run>/checkpoints/x.ckpt`` -> ``<run>``)."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def config_dir() -> Path:
    """``${{ cookiecutter.package_name | upper }}_CONFIG_DIR``, the checkout's ``configs/``, or ``./configs``."""
    if "{{ cookiecutter.package_name | upper }}_CONFIG_DIR" in os.environ:
        return Path(os.environ["{{ cookiecutter.package_name | upper }}_CONFIG_DIR"])
    repo_configs = Path(__file__).resolve().parents[2] / "configs"
    return repo_configs if repo_configs.is_dir() else Path.cwd() / "configs"

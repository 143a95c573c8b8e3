"""Where runs go (``runs/<experiment>/version_<n>``) and where configs come from (the ``configs/`` folder).

Every file a run writes lands in one folder, so a run can be copied, compared or deleted as a unit. The
launching process chooses it once and hands it to DDP's child processes in ``$LITPROJ_RUN_DIR``.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path

from litproj.errors import UserError

RUN_DIR_ENV = "LITPROJ_RUN_DIR"
CONFIG_DIR_ENV = "LITPROJ_CONFIG_DIR"
_VERSION = re.compile(r"version_(\d+)$")


def _versions(experiment_dir: Path) -> list[tuple[int, Path]]:
    found = experiment_dir.iterdir() if experiment_dir.is_dir() else []
    return sorted((int(m.group(1)), p) for p in found if (m := _VERSION.search(p.name)))


def is_child_rank() -> bool:
    """True in processes that a launcher (Lightning, torchrun, srun) started for ranks other than 0."""
    return any(os.environ.get(var, "0") != "0" for var in ("LOCAL_RANK", "RANK", "NODE_RANK", "SLURM_PROCID"))


def scratch_run_dir() -> Path:
    """A throwaway folder for a rank that torchrun or SLURM started without the run folder (rank 0 keeps all)."""
    path = Path(tempfile.mkdtemp(prefix="litproj-rank-"))
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


def saved_callback_states(checkpoint: Path) -> dict:
    """The callbacks' states inside a checkpoint file, read as tensors only (memory-mapped, so cheap for big
    files); empty for a sharded folder or a file that cannot be read that way."""
    import torch  # here: run folders are the ground floor, importable without torch

    if not checkpoint.is_file():
        return {}
    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # torch raises many types; the caller falls back to what the folder shows
        return {}
    states = saved.get("callbacks") if isinstance(saved, dict) else None
    return states if isinstance(states, dict) else {}


def best_checkpoint(run_dir: Path) -> Path | None:
    """The run's best checkpoint: the checkpoint callback's ``best_model_path`` as its newest checkpoint recorded it,
    else the only checkpoint besides ``last*.ckpt``. The recorded one is the best by the monitored metric, which the
    newest file name is not (``save_top_k > 1``, ``epoch100`` sorting before ``epoch99``); it is looked up beside
    the checkpoint that recorded it, so a moved run folder still finds it."""
    folder = run_dir / "checkpoints"
    found = sorted(folder.glob("*.ckpt")) if folder.is_dir() else []  # a sharded checkpoint is a folder
    newest = max((p for p in found if p.is_file()), key=lambda p: p.stat().st_mtime_ns, default=None)
    for state in saved_callback_states(newest).values() if newest else []:  # trainer.checkpoint_callback's first
        best = state.get("best_model_path") if isinstance(state, dict) else None
        if best and (folder / Path(best).name).exists():
            return folder / Path(best).name
    others = [p for p in found if not p.name.startswith("last")]
    if len(others) > 1:
        raise UserError(
            f"--ckpt_path best: {folder} holds {len(others)} checkpoints and none records which is best "
            "(saved without callback state). Pass the one you want: --ckpt_path FILE."
        )
    return others[0] if others else None


def latest_checkpoint(runs_dir: str | Path, experiment: str, which: str = "last") -> Path:
    """The newest run's ``last.ckpt`` (``which='last'``) or :func:`best_checkpoint` (``which='best'``)."""
    for _, run in reversed(_versions(Path(runs_dir) / experiment)):  # the newest run first
        if which == "last" and (run / "checkpoints" / "last.ckpt").exists():
            return run / "checkpoints" / "last.ckpt"
        best = best_checkpoint(run) if which == "best" else None
        if best is not None:
            return best
    raise UserError(
        f"--ckpt_path {which}: no {which} checkpoint for experiment '{experiment}' under "
        f"{Path(runs_dir) / experiment}. Train first, or pass a checkpoint file."
    )


def run_dir_of(checkpoint: Path) -> Path:
    """The run folder a checkpoint belongs to (``<run>/checkpoints/x.ckpt`` -> ``<run>``)."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def config_dir() -> Path:
    """``$LITPROJ_CONFIG_DIR``, else the checkout's ``configs/``, else ``./configs``: the first with ``default.yaml``.

    Without it LightningCLI would skip the missing default file silently and train with Lightning's own defaults
    (1000 epochs): a run started from another folder, or from an installed (non-editable) package, must say so.
    """
    if os.environ.get(CONFIG_DIR_ENV):
        candidates = [Path(os.environ[CONFIG_DIR_ENV])]
    else:
        candidates = [Path(__file__).resolve().parents[2] / "configs", Path.cwd() / "configs"]
    found = next((folder for folder in candidates if (folder / "default.yaml").is_file()), None)
    if found is None:
        looked = " or ".join(str(folder / "default.yaml") for folder in candidates)
        raise UserError(
            f"configs: no {looked}. Run from the project folder, or set {CONFIG_DIR_ENV}=/path/to/project/configs."
        )
    return found

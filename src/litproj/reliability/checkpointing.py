"""Checkpoints that survive a ``kill -9``: step-interval saves, atomic writes, and the RNG state for resume.

Lightning's ``ModelCheckpoint`` saves per epoch *or* every N steps, not both, keeps no RNG state, and
saves nothing on SIGTERM; its writer is not atomic across filesystems (see :func:`atomic_save`).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fsspec.implementations.local import LocalFileSystem
from jsonargparse.typing import NonNegativeInt
from lightning_fabric.utilities.cloud_io import get_filesystem
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities.exceptions import SIGTERMException

from litproj.errors import say

TEMP_SUFFIX = ".ckpt-partial"
ASIDE_SUFFIX = ".ckpt-aside"  # a sharded checkpoint folder moved aside by :func:`replace_folder`
#: Validation losses a module may log, in the order the monitor fallback prefers them.
LOSS_NAMES = ("val/loss", "val_loss", "valid_loss", "validation_loss", "val/loss_epoch", "val_loss_epoch")


def validation_loss(metrics) -> str | None:
    """The validation loss among logged ``metrics`` that a default monitor falls back to (lowest is best)."""
    found = next((name for name in LOSS_NAMES if name in metrics), None)
    return found or next((m for m in sorted(metrics) if m.startswith("val") and "loss" in m), None)


def rng_states() -> dict[str, Any]:
    """The random generators a resumed run continues from, as tensors and plain values (``weights_only``-safe)."""
    _, keys, position, has_gauss, cached_gauss = np.random.get_state()
    numpy = {"keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": position}
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {**numpy, "gauss": (has_gauss, cached_gauss)},
        "python": random.getstate(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Continue the generators of ``states``. On fewer GPUs than it saved from, only the devices that exist
    (``torch.cuda.set_rng_state_all`` would raise IndexError); none on the CPU."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        for index, state in enumerate(states["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(state, index)
    numpy = states["numpy"]
    np.random.set_state(("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["pos"], *numpy["gauss"]))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))


class LitCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` plus RNG state, ``last.ckpt`` on SIGTERM, and a monitor fallback.

    With ``fallback_monitor`` (the monitor is litproj's default, not the user's), a module that does not log
    it gets its logged validation loss monitored (or only ``last.ckpt`` kept), with a note; Lightning would
    stop the run after the first epoch instead.

    Args:
        every_n_steps: also refresh ``last.ckpt`` every this many optimizer steps (0: per epoch only), so a
            killed run loses at most this many steps (:func:`step_checkpoint`).
    """

    def __init__(self, every_n_steps: NonNegativeInt = 0, **kwargs):
        super().__init__(**kwargs)
        self.every_n_steps = int(every_n_steps)
        self.fallback_monitor = False
        self.configured: tuple[str | None, str] = (kwargs.get("monitor"), kwargs.get("mode", "min"))

    @property
    def state_key(self) -> str:
        """Built from the *configured* monitor: one a fallback changed mid-run would not match the resumed run's
        key, so Lightning would restore nothing (best path, top-k, RNG states)."""
        current: tuple[str | None, str] = (self.monitor, self.mode)  # type: ignore[has-type]
        self.monitor, self.mode = self.configured
        try:
            return super().state_key
        finally:
            self.monitor, self.mode = current

    def _check_monitor(self, trainer) -> None:
        unlogged: str | None = self.monitor
        if not self.fallback_monitor or unlogged is None:
            return  # decided already (or nothing to decide): every later epoch returns here
        metrics = [name for name in trainer.callback_metrics if not name.startswith("lr-")]  # not LearningRateMonitor's
        if unlogged in metrics:
            return
        self.fallback_monitor = False
        loss = validation_loss(metrics)
        logged = ", ".join(sorted(metrics)) or "nothing"
        if loss is None:
            advice = "keeping only last.ckpt; set --checkpoint.monitor to a metric it logs to keep the best"
            self.monitor, self.save_top_k = None, 0
        else:
            advice = f"keeping the checkpoint with the lowest {loss} instead (--checkpoint.monitor chooses)"
            self.monitor, self.mode, self.kth_value = loss, "min", torch.tensor(float("inf"))
        say(f"{type(trainer.lightning_module).__name__} does not log {unlogged}; it logs {logged}: {advice}.")

    def on_validation_end(self, trainer, pl_module) -> None:
        # In the sanity check if its validation logged something: decide now, not after epoch 1.
        if not trainer.sanity_checking or trainer.callback_metrics:
            self._check_monitor(trainer)
        super().on_validation_end(trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._check_monitor(trainer)
        super().on_train_epoch_end(trainer, pl_module)

    def setup(self, trainer, pl_module, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if trainer.is_global_zero and self.dirpath and Path(self.dirpath).is_dir():
            tidy_after_kill(Path(self.dirpath))

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        """On SIGTERM (preemption), save ``last.ckpt`` so ``--ckpt_path last`` resumes. Not Lightning's
        ``save_on_exception``: it saves on *every* exception (a NaN loss, an OOM being retried, a crash on
        one DDP rank, where its barrier would hang), under a name that can overwrite a best checkpoint."""
        super().on_exception(trainer, pl_module, exception)
        fitting = trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking
        if isinstance(exception, SIGTERMException) and self.save_last and fitting:
            trainer.save_checkpoint(self.format_checkpoint_name({}, self.CHECKPOINT_NAME_LAST), self.save_weights_only)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rng_states": rng_states()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if "rng_states" in state_dict:
            set_rng_states(state_dict["rng_states"])


def step_checkpoint(checkpoint: LitCheckpoint) -> ModelCheckpoint | None:
    """Lightning's own ``ModelCheckpoint`` refreshing only ``last.ckpt``, every ``every_n_steps`` optimizer steps."""
    if not checkpoint.every_n_steps or not checkpoint.save_last or checkpoint.dirpath is None:
        return None
    # Both callbacks write last.ckpt: neither may take the other's file for an old one and write last-v1.ckpt.
    checkpoint.last_model_path = checkpoint.format_checkpoint_name({}, checkpoint.CHECKPOINT_NAME_LAST)
    return ModelCheckpoint(
        dirpath=checkpoint.dirpath,
        every_n_train_steps=checkpoint.every_n_steps,
        save_top_k=0,
        save_last=checkpoint.save_last,
        save_weights_only=checkpoint.save_weights_only,
        enable_version_counter=False,
    )


class SafeCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local writes go through :func:`atomic_save` (remote ones stay Lightning's)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            super().save_checkpoint(checkpoint, path, storage_options)
        else:
            atomic_save(checkpoint, Path(path))


def staging_path(path: Path) -> Path:
    """A fresh hidden name beside ``path`` to write into before renaming; :func:`tidy_after_kill` removes leftovers."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # make a rename durable: a power loss could otherwise undo it
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def replace_folder(staged: Path, path: Path) -> None:
    """Rename the finished checkpoint folder ``staged`` to ``path``. No rename replaces a non-empty folder, so the
    previous one is renamed aside first and removed after; a kill between the two renames leaves it aside, where
    :func:`tidy_after_kill` finds it and puts it back."""
    aside = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{ASIDE_SUFFIX}")
    if path.exists() or path.is_symlink():
        os.replace(path, aside)
    os.replace(staged, path)
    _fsync_folder(path.parent)
    _remove(aside)


def tidy_after_kill(folder: Path) -> None:
    """Undo what a process killed while saving left in ``folder``: remove partial writes (files or sharded
    folders) and put back a checkpoint moved aside whose successor never arrived."""
    for stale in folder.glob(f".*{TEMP_SUFFIX}"):
        _remove(stale)
    for aside in folder.glob(f".*{ASIDE_SUFFIX}"):
        original = folder / aside.name[1 : -len(ASIDE_SUFFIX)].rsplit(".", 1)[0]  # .NAME.TOKEN.ckpt-aside
        if original.exists():
            _remove(aside)
        else:
            os.replace(aside, original)


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file next to ``path``, fsync, then rename: readers see old or new, never half.
    Lightning 2.6 stages it in the *system* temporary folder and ``shutil.move``s it, which across filesystems
    (tmpfs ``/tmp``, node-local disk vs shared volume) copies in place: a kill mid-copy truncates ``last.ckpt``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = staging_path(path)
    try:
        with open(temporary, "xb") as file:  # the usual permissions, unlike mkstemp's private file
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)

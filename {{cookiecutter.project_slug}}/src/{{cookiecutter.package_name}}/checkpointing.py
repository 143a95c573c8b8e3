"""Checkpoints that survive a ``kill -9``: step-interval saves, atomic writes, and the RNG state for resume.

Lightning's ``ModelCheckpoint`` saves per epoch *or* every N steps, not both, and writes the file in
place, so a process killed mid-write can leave a truncated ``last.ckpt``. :class:`LitCheckpoint` adds
``every_n_steps`` (refreshing ``last.ckpt`` between the per-epoch best/last saves), keeps the random
number generators in the checkpoint, and saves ``last.ckpt`` when the job is preempted (SIGTERM).
:class:`SafeCheckpointIO` writes every checkpoint to a temporary file in the same folder, fsyncs it
and renames it over the old one, and loads with ``weights_only=True`` unless the user trusts the file.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
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

TEMP_SUFFIX = ".ckpt-partial"


def rng_states() -> dict[str, Any]:
    """The random generators a resumed run continues from, as tensors and plain values (``weights_only``-safe)."""
    kind, keys, position, has_gauss, cached_gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": position,
            "gauss": (has_gauss, cached_gauss),
        },
        "python": random.getstate(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    numpy = states["numpy"]
    keys = numpy["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, numpy["pos"], *numpy["gauss"]))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))


class LitCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` plus step-interval saves of ``last.ckpt``, RNG state, and a save on SIGTERM.

    Args:
        every_n_steps: also refresh ``last.ckpt`` every this many optimizer steps (0: per epoch only), so a
            killed run loses at most this many steps. The best-by-metric checkpoints stay per epoch.
        **kwargs: everything ``ModelCheckpoint`` takes (``monitor``, ``mode``, ``save_last``, ...).
    """

    def __init__(self, every_n_steps: NonNegativeInt = 0, **kwargs):
        super().__init__(**kwargs)
        self.every_n_steps = int(every_n_steps)

    def setup(self, trainer, pl_module, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if trainer.is_global_zero and self.dirpath and Path(self.dirpath).is_dir():
            for stale in Path(self.dirpath).glob(f".*{TEMP_SUFFIX}"):  # left by a process killed mid-write
                stale.unlink(missing_ok=True)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        step = trainer.global_step
        if self.every_n_steps and step % self.every_n_steps == 0 and not self._should_skip_saving_checkpoint(trainer):
            # A step save must not stop the epoch-end save (best by metric) at the same step.
            saved_step: int = self._last_global_step_saved  # type: ignore[has-type]
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
            self._last_global_step_saved = saved_step

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        """Preemption (SIGTERM from SLURM or Kubernetes): save ``last.ckpt`` so ``--ckpt_path last`` resumes."""
        super().on_exception(trainer, pl_module, exception)
        fitting = trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking
        if isinstance(exception, SIGTERMException) and self.save_last and fitting:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rng_states": rng_states()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if "rng_states" in state_dict:
            set_rng_states(state_dict["rng_states"])


class SafeCheckpointIO(TorchCheckpointIO):
    """Atomic local writes (temp file, fsync, rename) and ``weights_only`` loading unless trusted.

    Args:
        trust_checkpoint: load with full unpickling (can run code from the file); only for files you made.
    """

    def __init__(self, trust_checkpoint: bool = False):
        self.trust_checkpoint = trust_checkpoint

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        atomic_save(checkpoint, Path(path))

    def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None) -> dict:
        if weights_only is None:
            weights_only = not self.trust_checkpoint
        return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file next to ``path``, fsync, then rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes the file private; keep the usual permissions
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(path.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (a power loss after ``os.replace`` could otherwise undo it)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

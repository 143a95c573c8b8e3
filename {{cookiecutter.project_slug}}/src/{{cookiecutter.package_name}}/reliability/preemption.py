"""Preemption (SIGTERM from SLURM, Kubernetes or ``kill``): leave a resumable checkpoint and one clear line.

Lightning turns SIGTERM into ``SIGTERMException`` at the next batch boundary, but saves nothing outside SLURM's
auto-requeue and exits with status 0. ``LitCheckpoint`` saves ``last.ckpt`` on that exception; this exits with
143 (128 + SIGTERM, what schedulers expect). Under DDP/FSDP Lightning's handler runs a broadcast inside the
signal handler, which with 2 gloo ranks pairs with another collective and hangs (pytorch-lightning 2.6.6).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

import torch
import torch.distributed as dist
from lightning_utilities.core.rank_zero import rank_zero_only
from pytorch_lightning import Callback
from pytorch_lightning.utilities.exceptions import SIGTERMException


@contextlib.contextmanager
def exit_on_preemption() -> Iterator[None]:
    try:
        yield
    except SIGTERMException:
        if getattr(rank_zero_only, "rank", 0) == 0:  # every rank stops; one line says so
            print(
                "stopped by SIGTERM: saved last.ckpt; resume with: python train.py --ckpt_path last (plus your flags)",
                file=sys.stderr,
                flush=True,
            )
        raise SystemExit(128 + signal.SIGTERM) from None


class StopTogether(Callback):
    """With several ranks, SIGTERM on any of them stops all of them after the same optimizer step.

    The signal only sets a flag; after every batch the ranks sum their flags (one tiny all-reduce, as Lightning's
    own per-step broadcast) and all raise ``SIGTERMException`` together. One process keeps Lightning's handler.
    """

    def __init__(self) -> None:
        self.signalled = False
        self.previous: object = None
        self.installed = False

    def _record(self, signum: int, frame: object) -> None:
        self.signalled = True

    def on_train_start(self, trainer, pl_module) -> None:
        distributed = dist.is_available() and dist.is_initialized() and trainer.world_size > 1
        if distributed and threading.current_thread() is threading.main_thread():
            self.signalled = False
            self.previous = signal.signal(signal.SIGTERM, self._record)
            self.installed = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if not self.installed:
            return
        flag = torch.tensor([int(self.signalled)], device=trainer.strategy.root_device)
        dist.all_reduce(flag)
        if flag.item():
            raise SIGTERMException

    def on_train_end(self, trainer, pl_module) -> None:
        self._restore()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._restore()

    def _restore(self) -> None:
        if self.installed:
            signal.signal(signal.SIGTERM, self.previous)  # type: ignore[arg-type]
            self.installed = False

"""End the whole DDP job, naming the rank, when one rank dies: a dead peer must never leave the others hanging.

With ``--trainer.strategy ddp`` the command that the user started is rank 0 and Lightning launches the
other ranks as child processes. If one of them is killed (out of memory, ``kill -9``, a crash in native
code), the survivors wait in their next collective until the distributed timeout. Here rank 0 polls
its children and, as soon as one has died, says which rank it was, kills the rest and exits non-zero;
each child polls its parent and exits when rank 0 is gone, so no orphan keeps holding a GPU.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from pytorch_lightning import Callback
from pytorch_lightning.strategies.launchers import _SubprocessScriptLauncher

EXIT_RANK_DIED = 1
POLL_SECONDS = 0.5


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


def _die(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    os._exit(EXIT_RANK_DIED)


class RankWatchdog(Callback):
    """Rank 0 watches the ranks it launched; the launched ranks watch rank 0."""

    def __init__(self, poll_seconds: float = POLL_SECONDS) -> None:
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __getstate__(self) -> dict:
        # ddp_spawn pickles the Trainer's callbacks into each worker: threads and events stay behind.
        return {"poll_seconds": self.poll_seconds}

    def __setstate__(self, state: dict) -> None:
        self.poll_seconds = state["poll_seconds"]
        self._stop = threading.Event()
        self._thread = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        if self._thread is not None or trainer.world_size < 2:
            return
        launcher = trainer.strategy.launcher
        if trainer.is_global_zero and isinstance(launcher, _SubprocessScriptLauncher) and launcher.procs:
            target: Callable[..., None] = self._watch_children
            args: tuple = (launcher.procs, trainer.global_rank)
        elif trainer.local_rank > 0 and isinstance(launcher, _SubprocessScriptLauncher):
            target, args = self._watch_parent, (os.getppid(), trainer.global_rank)
        else:
            return  # processes started by torchrun or a cluster: their launcher supervises them
        self._stop.clear()
        self._thread = threading.Thread(target=target, args=args, name="litproj-rank-watchdog", daemon=True)
        self._thread.start()

    def teardown(self, trainer, pl_module, stage: str) -> None:
        self._stop.set()
        self._thread = None

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        """A collective that failed because a peer died: report the rank rather than a gloo/NCCL traceback."""
        launcher = trainer.strategy.launcher
        if not (trainer.is_global_zero and isinstance(launcher, _SubprocessScriptLauncher) and launcher.procs):
            return
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            self._check_children(launcher.procs, trainer.global_rank)
            time.sleep(0.1)

    def _watch_children(self, procs: list, first_rank: int) -> None:
        while not self._stop.wait(self.poll_seconds):
            self._check_children(procs, first_rank)

    @staticmethod
    def _check_children(procs: list, first_rank: int) -> None:
        """``procs`` are local ranks 1, 2, ... of the node whose rank 0 is global rank ``first_rank``."""
        for offset, proc in enumerate(procs, start=1):
            if proc.poll() not in (None, 0):
                for other in procs:
                    if other.poll() is None:
                        other.kill()
                how = describe_exit(proc.returncode)
                _die(
                    f"DDP rank {first_rank + offset} (pid {proc.pid}) {how}; stopped the other ranks instead of "
                    "waiting for it. Look above for its last messages (out of memory?)."
                )

    def _watch_parent(self, parent_pid: int, rank: int) -> None:
        while not self._stop.wait(self.poll_seconds):
            if os.getppid() != parent_pid:
                _die(f"DDP rank 0 (pid {parent_pid}) is gone; rank {rank} stops too.")

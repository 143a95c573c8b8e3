"""Name the DDP rank that died, when rank 0 fails because of it: what Lightning's own watchdog leaves out.

When a rank launched by ``--trainer.strategy ddp`` dies, Lightning's ``_ChildProcessObserver`` (polling every
5 s) kills the job, but rank 0 is usually inside a collective that fails first ("Connection reset by peer"),
with a traceback that names no dead rank. This callback names it on stderr, before that traceback.
"""

from __future__ import annotations

import signal
import sys
import time

from pytorch_lightning import Callback
from pytorch_lightning.strategies.launchers import _SubprocessScriptLauncher
from pytorch_lightning.utilities.exceptions import SIGTERMException

from litproj.errors import UserError


class DeadRankReport(Callback):
    """On an exception in rank 0, name any rank it launched that has died (out of memory, ``kill -9``, a crash)."""

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, (SIGTERMException, KeyboardInterrupt, UserError)):
            return  # raised on every rank together: the other ranks end with it, none died first
        # private: _SubprocessScriptLauncher, its .procs (pytorch-lightning 2.6): launched ranks 1, 2, ... of this node
        launcher = trainer.strategy.launcher
        ours = trainer.is_global_zero and isinstance(launcher, _SubprocessScriptLauncher)
        procs = launcher.procs if ours else None  # not ddp_spawn's (multiprocessing) nor torchrun's processes
        deadline = time.monotonic() + 2.0  # for the rank rank 0 lost to be reported dead
        while procs and time.monotonic() < deadline:
            dead = [(rank, p) for rank, p in enumerate(procs, start=1) if p.poll() not in (None, 0)]
            for rank, proc in dead:
                code = proc.returncode
                how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
                print(
                    f"error: DDP rank {trainer.global_rank + rank} (pid {proc.pid}) {how}; "
                    "the other ranks stop too. Look above for its last messages (out of memory?).",
                    file=sys.stderr,
                    flush=True,
                )
            if dead:
                return
            time.sleep(0.1)

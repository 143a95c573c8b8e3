"""Name the DDP rank that died, when rank 0 fails because of it: what Lightning's own watchdog leaves out.

With ``--trainer.strategy ddp`` the command the user started is rank 0 and Lightning launches the others.
When a launched rank dies, Lightning's ``_ChildProcessObserver`` (polling every 5 s) kills the whole job
and logs ``[rank: 1] Child process with PID N terminated with code -9``. But rank 0 is usually inside a
collective, which fails at once ("Connection reset by peer") and ends the job first, with a traceback
that names no dead rank. This callback says which rank died and how, on stderr, before that traceback.
"""

from __future__ import annotations

import signal
import sys
import time

from pytorch_lightning import Callback
from pytorch_lightning.strategies.launchers import _SubprocessScriptLauncher
from pytorch_lightning.utilities.exceptions import SIGTERMException

from {{ cookiecutter.package_name }}.errors import UserError

#: How long rank 0 waits for the launched rank it lost to be reported dead.
WAIT_SECONDS = 2.0


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


class DeadRankReport(Callback):
    """On an exception in rank 0, name any rank it launched that has died (out of memory, ``kill -9``, a crash)."""

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, (SIGTERMException, KeyboardInterrupt, UserError)):
            return  # raised on every rank together: the other ranks end with it, none died first
        # private: _SubprocessScriptLauncher, its .procs (pytorch-lightning 2.6): launched ranks 1, 2, ... of this node
        launcher = trainer.strategy.launcher
        ours = trainer.is_global_zero and isinstance(launcher, _SubprocessScriptLauncher)
        procs = launcher.procs if ours else None  # not ddp_spawn's (multiprocessing) nor torchrun's processes
        deadline = time.monotonic() + WAIT_SECONDS
        while procs and time.monotonic() < deadline:
            dead = [(rank, p) for rank, p in enumerate(procs, start=1) if p.poll() not in (None, 0)]
            for rank, proc in dead:
                print(
                    f"error: DDP rank {trainer.global_rank + rank} (pid {proc.pid}) {describe_exit(proc.returncode)}; "
                    "the other ranks stop too. Look above for its last messages (out of memory?).",
                    file=sys.stderr,
                    flush=True,
                )
            if dead:
                return
            time.sleep(0.1)

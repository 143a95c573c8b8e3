"""Preemption (SIGTERM from SLURM, Kubernetes or ``kill``): leave a resumable checkpoint and one clear line.

Lightning turns SIGTERM into ``SIGTERMException`` at the next batch boundary on every rank, but saves nothing
outside SLURM's auto-requeue and exits with status 0, as if training had finished. ``LitCheckpoint`` saves
``last.ckpt`` on that exception; this exits with 143 (128 + SIGTERM, what schedulers expect) and says how to resume.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator

from pytorch_lightning.utilities.exceptions import SIGTERMException


@contextlib.contextmanager
def exit_on_preemption() -> Iterator[None]:
    try:
        yield
    except SIGTERMException:
        print(
            "stopped by SIGTERM: saved last.ckpt; resume with: python train.py --ckpt_path last (plus your flags)",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(128 + signal.SIGTERM) from None

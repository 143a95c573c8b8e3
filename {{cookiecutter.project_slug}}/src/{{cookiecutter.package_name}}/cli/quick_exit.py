"""Skip the slowest part of leaving Python: the garbage-collector passes of interpreter shutdown.

A process that imported torch and Lightning spends about as long in those passes at exit as in a whole epoch of
the default run (bench/e2e.py measures it: docs/benchmarks.md), only to free memory the operating system takes
back anyway. After the command's work is done, one collection runs the finalizers of what is already garbage
(files still open in a cycle get flushed), then ``gc.freeze`` moves everything alive into the generation that
shutdown does not scan. Reference counting still tears modules down as usual, and atexit handlers (W&B, MLflow)
still run. Only for the command line: a test calling ``main`` in-process keeps its collector intact.
"""

from __future__ import annotations

import gc


def skip_shutdown_collections() -> None:
    gc.collect()
    gc.freeze()

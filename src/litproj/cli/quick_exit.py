"""Skip the slowest part of leaving Python: the garbage-collector passes of interpreter shutdown, which after
importing torch and Lightning take about as long as an epoch of the default run (bench/e2e.py, docs/benchmarks.md)
only to free memory the operating system takes back anyway. One collection first runs the finalizers of what is
already garbage (files open in a cycle get flushed); ``gc.freeze`` then hides everything alive from shutdown's
scans. Modules are still torn down and atexit handlers (W&B, MLflow) still run. Command line only: a test calling
``main`` in-process keeps its collector intact.
"""

from __future__ import annotations

import gc


def skip_shutdown_collections() -> None:
    gc.collect()
    gc.freeze()

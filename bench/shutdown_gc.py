"""``python train.py ARGS`` with the garbage-collector passes of interpreter shutdown put back.

train.py skips them (:mod:`litproj.cli.quick_exit` freezes the collector once its work is done); this variant
undoes that in an atexit handler, which Python runs before those passes, so ``python bench/e2e.py --shutdown_gc``
can time what skipping them saves, interleaved with the literal ``python train.py``.
"""

from __future__ import annotations

import atexit
import gc
import runpy
import sys
from pathlib import Path

TRAIN = Path(__file__).resolve().parents[1] / "train.py"

if __name__ == "__main__":
    atexit.register(gc.unfreeze)
    sys.argv = [str(TRAIN), *sys.argv[1:]]
    runpy.run_path(str(TRAIN), run_name="__main__")

"""``python train.py ARGS`` with timestamps at each phase, for bench/e2e.py and bench/ddp_cpu.py.

It is train.py plus one callback: the run goes through ``{{ cookiecutter.package_name }}.cli.runner.run`` exactly as
``python train.py`` does. The phases end at: ``import`` ({{ cookiecutter.package_name }}.cli.runner imported; measured from the
moment the parent spawned this process, passed in ``{{ cookiecutter.package_name | upper }}_BENCH_T0``), ``build`` (config parsed,
Trainer/model/datamodule built), ``data`` (datamodule set up, fit about to start), ``fit``, ``test``.
Rank 0 writes them as JSON to the file named by ``{{ cookiecutter.package_name | upper }}_BENCH_PHASES``; the parent adds ``exit``.
"""

from __future__ import annotations

import json
import os
import sys
import time

T0 = float(os.environ.get("{{ cookiecutter.package_name | upper }}_BENCH_T0") or time.time())

import pytorch_lightning as pl  # noqa: E402  (the import is what this phase measures)

import {{ cookiecutter.package_name }}.cli.runner  # noqa: E402
from {{ cookiecutter.package_name }}.cli.quick_exit import skip_shutdown_collections  # noqa: E402
from {{ cookiecutter.package_name }}.errors import exit_on_user_error  # noqa: E402

MARKS: dict[str, float] = {"import": time.time()}


class PhaseMarks(pl.Callback):
    """Timestamps when the datamodule is ready, when fit ends and when test ends; also counts train samples."""

    def __init__(self) -> None:
        self.samples = 0

    def setup(self, trainer, pl_module, stage: str) -> None:
        # Lightning sets the datamodule up before callbacks, so this marks "data ready".
        MARKS.setdefault("data", time.time())

    def on_train_start(self, trainer, pl_module) -> None:
        MARKS.setdefault("train_start", time.time())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.samples += len(batch[1])

    def on_fit_end(self, trainer, pl_module) -> None:
        MARKS["fit"] = time.time()
        MARKS["train_samples_per_rank"] = self.samples
        MARKS["world_size"] = trainer.world_size

    def on_test_end(self, trainer, pl_module) -> None:
        MARKS["test"] = time.time()


def _timed_build(build):
    def wrapper(*args, **kwargs):
        cli = build(*args, **kwargs)
        MARKS["build"] = time.time()
        return cli

    return wrapper


def main() -> None:
    {{ cookiecutter.package_name }}.cli.runner.build = _timed_build({{ cookiecutter.package_name }}.cli.runner.build)
    argv = sys.argv[1:]
    with exit_on_user_error(False):
        results = {{ cookiecutter.package_name }}.cli.runner.run(argv, trainer_defaults={"callbacks": [PhaseMarks()]})
    out = os.environ.get("{{ cookiecutter.package_name | upper }}_BENCH_PHASES")
    is_rank_zero = int(os.environ.get("LOCAL_RANK", "0")) == 0 and int(os.environ.get("NODE_RANK", "0")) == 0
    if out and is_rank_zero:
        MARKS["report"] = time.time()
        payload = {"t0": T0, "marks": MARKS, "metrics": results.get("metrics", {})}
        with open(out, "w", encoding="utf-8") as f:
            json.dump(payload, f)
    skip_shutdown_collections()  # as train.py's main() does on the command line


if __name__ == "__main__":
    main()

"""One trial = one ``train.py fit`` run, with the sampled values as overrides and the Tune callback added.

There is no training code here: the trial calls :func:`litproj.cli.runner.run`, the function behind
``python train.py``, so a trial trains exactly what ``python train.py --config best.yaml`` will.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from litproj.errors import UserError
from litproj.tune.callback import CHECKPOINT_FILE, TuneReportCallback
from litproj.tune.space import as_overrides

QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


@dataclass
class TrialSetup:
    """Everything a trial needs besides its sampled values; shipped to the trial by ``tune.with_parameters``.

    Args:
        train_args: the user's train.py overrides.
        search_dir: the search folder; each trial's run folder is ``<search_dir>/<trial id>/version_<n>``.
        metric: the monitored metric reported to Ray.
        cwd: the directory tune.py was started in, so relative paths in the overrides keep working.
        resources: per-trial (or, with several workers, per-worker) resources, e.g. ``{"cpu": 1}``.
        workers: DDP workers per trial; more than one runs the trial through Ray Train.
    """

    train_args: list[str]
    search_dir: str
    metric: str
    cwd: str
    resources: dict = field(default_factory=lambda: {"cpu": 1})
    workers: int = 1

    def args(self, values: dict, trial_id: str) -> list[str]:
        """``train.py fit`` arguments for a trial: the user's overrides, then the sampled values (they win)."""
        where = ["--runs_dir", self.search_dir, "--name", trial_id]
        return ["fit", *self.train_args, *as_overrides(values), *where, *QUIET]

    def enter(self) -> None:
        """Prepare the trial's process: working directory and torch threads from the trial's CPUs."""
        import torch

        if Path(self.cwd).is_dir():
            os.chdir(self.cwd)
        torch.set_num_threads(max(1, int(self.resources.get("cpu", 1))))


@contextlib.contextmanager
def restore_args(checkpoint) -> Iterator[list[str]]:
    """``--ckpt_path`` for a Ray checkpoint (PBT exploit, retry, resume), kept on disk while the trial runs."""
    if checkpoint is None:
        yield []
        return
    with checkpoint.as_directory() as folder:
        yield ["--ckpt_path", str(Path(folder) / CHECKPOINT_FILE)]


def litproj_trial(config: dict, setup: TrialSetup) -> None:
    """The Ray Tune function: build and fit through litproj's single path, reporting at each validation."""
    from ray import tune

    setup.enter()
    trial_id = tune.get_context().get_trial_id()
    if setup.workers > 1:
        from litproj.tune.distributed import fit_with_workers

        fit_with_workers(config, setup, trial_id)
        return
    from litproj.cli.runner import run

    callback = TuneReportCallback(setup.metric, params=config)
    with restore_args(tune.get_checkpoint()) as checkpoint_args, one_line_errors():
        run([*setup.args(config, trial_id), *checkpoint_args], trainer_defaults={"callbacks": [callback]})


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """A trial's :class:`UserError` reaches Ray (and the summary table) as its one line, without its chain.

    The chain of a parse error can loop back on itself, which Ray's traceback formatting cannot print.
    """
    try:
        yield
    except UserError as err:
        raise UserError(" ".join(str(err).split())) from None

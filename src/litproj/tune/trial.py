"""One trial = one ``train.py fit`` run (:func:`litproj.cli.runner.run`) with the sampled values as overrides.

No training code here, so a trial trains exactly what ``python train.py --config best.yaml`` will. Several
workers per trial run Lightning DDP through a Ray Train ``TorchTrainer`` built inside the Tune function
(Ray 2.60's Train V2 no longer makes it a Tune trainable), each worker running the same ``train.py fit``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from litproj.errors import UserError
from litproj.tune.callback import CHECKPOINT_FILE, TuneReportCallback
from litproj.tune.space import as_overrides

QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
RAY_DDP = [
    "--trainer.strategy.class_path", "ray.train.lightning.RayDDPStrategy",
    "--trainer.plugins", "ray.train.lightning.RayLightningEnvironment", "--trainer.devices", "auto",
]  # fmt: skip


@dataclass
class TrialSetup:
    """Everything a trial needs besides its sampled values; shipped to the trial by ``tune.with_parameters``.

    ``cwd``: where tune.py started (relative paths keep working); ``resources``: per trial, or per Ray Train worker.
    """

    train_args: list[str]
    search_dir: str
    metric: str
    cwd: str
    resources: dict = field(default_factory=lambda: {"cpu": 1})
    workers: int = 1

    def fit(self, values: dict, trial_id: str, checkpoint, callback: TuneReportCallback, extra=()) -> None:
        """``train.py fit`` with the user's overrides, then the sampled values (they win), from ``checkpoint``."""
        import torch

        from litproj.cli.runner import run

        if Path(self.cwd).is_dir():
            os.chdir(self.cwd)
        torch.set_num_threads(max(1, int(self.resources.get("cpu", 1))))
        where = ["--runs_dir", self.search_dir, "--name", trial_id, *QUIET, *extra]
        args = ["fit", *self.train_args, *as_overrides(values), *where]
        try:  # from a checkpoint: a PBT exploit, a retry, a resume
            with checkpoint.as_directory() if checkpoint is not None else contextlib.nullcontext() as folder:
                start = ["--ckpt_path", str(Path(folder) / CHECKPOINT_FILE)] if folder else []
                run([*args, *start], trainer_defaults={"callbacks": [callback]})
        except UserError as err:  # one line, without a chain that Ray's traceback formatting may loop on
            raise UserError(" ".join(str(err).split())) from None


def _worker_loop(loop_config: dict) -> None:
    """One Ray Train worker: the trial's train.py run, reporting through ``ray.train.report``."""
    import ray.train

    setup, values = loop_config["setup"], loop_config["values"]
    callback = TuneReportCallback(setup.metric, values, report=ray.train.report, checkpoint_class=ray.train.Checkpoint)
    setup.fit(values, loop_config["trial_id"], ray.train.get_checkpoint(), callback, extra=RAY_DDP)


def litproj_trial(config: dict, setup: TrialSetup) -> None:
    """The Ray Tune function: build and fit through litproj's single path, reporting at each validation.

    With ``setup.workers`` Ray Train workers, their Train run is stored in the trial's folder, so a resumed or
    retried trial finds their last checkpoint there; Ray's ``TuneReportCallback`` forwards rank 0's reports.
    """
    from ray import tune

    trial_id = tune.get_context().get_trial_id()
    if setup.workers == 1:
        setup.fit(config, trial_id, tune.get_checkpoint(), TuneReportCallback(setup.metric, params=config))
        return
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback as ForwardToTune

    gpus = setup.resources.get("gpu", 0)
    per_worker = {"CPU": setup.resources.get("cpu", 1), **({"GPU": gpus} if gpus else {})}
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={"values": config, "setup": setup, "trial_id": trial_id},
        scaling_config=ScalingConfig(num_workers=setup.workers, use_gpu=gpus > 0, resources_per_worker=per_worker),
        run_config=RunConfig(
            name="ray_train", storage_path=str(Path(setup.search_dir) / trial_id), callbacks=[ForwardToTune()]
        ),
    )
    trainer.fit()

"""Trials with several workers: Lightning DDP inside a trial, launched by Ray Train from the Tune function.

Ray 2.60 runs Train V2, where a ``TorchTrainer`` is no longer a Tune trainable; a trial that needs
several workers builds one inside its Tune function (Ray's documented pattern). Every worker runs the
same ``train.py fit`` as a one-worker trial, with Ray's DDP strategy and cluster environment added;
Ray's ``TuneReportCallback`` forwards rank 0's reports to Tune.
"""

from __future__ import annotations

from pathlib import Path

from litproj.tune.callback import TuneReportCallback
from litproj.tune.trial import TrialSetup, one_line_errors, restore_args

RAY_DDP = [
    "--trainer.strategy.class_path",
    "ray.train.lightning.RayDDPStrategy",
    "--trainer.plugins",
    "ray.train.lightning.RayLightningEnvironment",
    "--trainer.devices",
    "auto",
]


def _worker_loop(loop_config: dict) -> None:
    """One Ray Train worker: the trial's train.py run, reporting through ``ray.train.report``."""
    import ray.train

    from litproj.cli.runner import run

    setup: TrialSetup = loop_config["setup"]
    setup.enter()
    values, trial_id = loop_config["values"], loop_config["trial_id"]
    callback = TuneReportCallback(
        setup.metric, params=values, report=ray.train.report, checkpoint_class=ray.train.Checkpoint
    )
    with restore_args(ray.train.get_checkpoint()) as checkpoint_args, one_line_errors():
        run([*setup.args(values, trial_id), *RAY_DDP, *checkpoint_args], trainer_defaults={"callbacks": [callback]})


def fit_with_workers(values: dict, setup: TrialSetup, trial_id: str) -> None:
    """Run the trial on ``setup.workers`` Ray Train workers and wait for them.

    The Train run is named after the trial and stored in the trial's folder, so a resumed or retried
    trial finds the workers' last checkpoint there (``ray.train.get_checkpoint``).
    """
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback as ForwardToTune

    gpus = setup.resources.get("gpu", 0)
    per_worker = {"CPU": setup.resources.get("cpu", 1), **({"GPU": gpus} if gpus else {})}
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={"values": values, "setup": setup, "trial_id": trial_id},
        scaling_config=ScalingConfig(num_workers=setup.workers, use_gpu=gpus > 0, resources_per_worker=per_worker),
        run_config=RunConfig(
            name="ray_train",
            storage_path=str(Path(setup.search_dir) / trial_id),
            callbacks=[ForwardToTune()],
        ),
    )
    trainer.fit()

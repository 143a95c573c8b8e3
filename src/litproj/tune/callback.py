"""litproj's Ray Tune callback: what turns a train.py run into a trial a scheduler can judge and copy.

Written against ``pytorch_lightning`` on purpose: Ray's own Lightning callback binds to the
``lightning`` package whenever that is importable, and a ``lightning.pytorch`` callback is silently
ignored by a ``pytorch_lightning`` Trainer. This one works whichever Lightning packages are installed.

PBT restarts a trial from a better trial's checkpoint with perturbed values (``--model.lr 0.012 --ckpt_path
donor.ckpt``), and Lightning loads the donor's optimizer and LR-scheduler state over the optimizer built from
them: without :class:`KeepTrialOptimizerSettings` the donor's learning rate, weight decay or momentum would
train on. It compares what ``configure_optimizers`` built from the trial's values and from the donor's (saved
in every checkpoint), so it works whatever a module calls its learning rate, and a plain resume changes nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from numbers import Real
from pathlib import Path

from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.loggers import TensorBoardLogger

from litproj.errors import UserError

#: The checkpoint entry holding the optimizer settings as ``configure_optimizers`` built them.
BUILT_KEY = "litproj_built_optimizers"


def _setting(value) -> bool:
    """A numeric optimizer hyperparameter (lr, weight_decay, momentum, betas), not a flag such as ``foreach``."""
    if isinstance(value, (tuple, list)):
        return bool(value) and all(_setting(v) for v in value)
    return isinstance(value, Real) and not isinstance(value, bool)


def _settings(param_groups) -> list[dict]:
    return [{k: v for k, v in group.items() if k != "params" and _setting(v)} for group in param_groups]


def _base_lr(group: dict) -> float:
    """The learning rate a group was built with: an LR scheduler keeps it as ``initial_lr``, and moves ``lr``."""
    return float(group.get("initial_lr", group["lr"]))


def apply_settings(trainer: Trainer, built: list[list[dict]], donor: list[list[dict]]) -> dict[str, tuple]:
    """Give the restored optimizers every setting where ``built`` (this trial) differs from ``donor``;
    ``{"opt0.group0.lr": (old, new), ...}``. A scheduled learning rate keeps its place in the schedule (scaled by
    new base / old base; the scheduler's ``base_lrs`` take the new base)."""
    changed: dict[str, tuple] = {}
    for i, (optimizer, mine, theirs) in enumerate(zip(trainer.optimizers, built, donor, strict=False)):
        schedulers = [
            c.scheduler for c in trainer.lr_scheduler_configs if getattr(c.scheduler, "optimizer", None) is optimizer
        ]
        for j, (group, new, old) in enumerate(zip(optimizer.param_groups, mine, theirs, strict=False)):
            if "lr" in new and "lr" in old and _base_lr(new) != _base_lr(old):
                start, target = _base_lr(old), _base_lr(new)
                group["lr"] = group["lr"] * target / start if start else target
                if "initial_lr" in group:
                    group["initial_lr"] = target
                for scheduler in schedulers:
                    if hasattr(scheduler, "base_lrs") and j < len(scheduler.base_lrs):
                        scheduler.base_lrs[j] = target
                changed[f"opt{i}.group{j}.lr"] = (start, target)
            for key, value in new.items():
                if key not in ("lr", "initial_lr") and key in old and key in group and old[key] != value:
                    group[key] = value
                    changed[f"opt{i}.group{j}.{key}"] = (old[key], value)
    return changed


class KeepTrialOptimizerSettings(Callback):
    """After a restore, the optimizer settings built from this trial's values win over the checkpoint's.

    Records what ``configure_optimizers`` built (``on_fit_start``: before Lightning loads a checkpoint's state
    into the optimizers), saves it with every checkpoint, and at ``on_train_start`` (after the restore) puts
    back every setting the donor's checkpoint changed. :attr:`changed` lists them.
    """

    def __init__(self) -> None:
        self.built: list[list[dict]] | None = None
        self.donor: list[list[dict]] | None = None
        self.changed: dict[str, tuple] = {}

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self.donor = None  # each fit (an OOM retry too) restores its own checkpoint, or none

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.built = [_settings(optimizer.param_groups) for optimizer in trainer.optimizers]

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict) -> None:
        if self.built is not None:
            checkpoint[BUILT_KEY] = self.built

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict) -> None:
        # A checkpoint saved without this callback: its optimizers' saved groups (which hold the base learning
        # rate as ``initial_lr`` when an LR scheduler ran, else the last one used).
        states = checkpoint.get("optimizer_states")
        saved = [_settings(state["param_groups"]) for state in states] if states else None
        self.donor = checkpoint.get(BUILT_KEY, saved)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.donor is not None and self.built is not None:
            self.changed.update(apply_settings(trainer, self.built, self.donor))
        self.donor = None

    def litproj_report(self) -> dict:
        """A ``restored_optimizer`` section in results.json when a restore changed settings (a PBT exploit)."""
        if not self.changed:
            return {}
        text = ", ".join(f"{key} {_text(old)} → {_text(new)}" for key, (old, new) in self.changed.items())
        summary = f"this trial's settings over the restored checkpoint's: {text}"
        return {"restored_optimizer": {"summary": summary, "changed": self.changed}}


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, Real) else str(value)


CHECKPOINT_FILE = "checkpoint.ckpt"
#: The words every missing-metric error carries (a search ends at the first trial that fails with them).
NOT_LOGGED = "the model never logs it"


def scalars(trainer: Trainer) -> dict[str, float]:
    """The trainer's single-number metrics: what a trial reports to Ray."""
    return {k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "numel", lambda: 0)() == 1}


def not_logged_message(metric: str, logged) -> str:
    names = ", ".join(sorted(logged)) or "none"
    return (
        f"--metric {metric}: {NOT_LOGGED} (logged: {names}). "
        "Pass tune.py --metric NAME --mode min|max, or log it with self.log in validation_step."
    )


class TuneReportCallback(KeepTrialOptimizerSettings):
    """Report the validation metrics to Ray at every validation end, with a checkpoint of the trial.

    Restored from another trial's checkpoint (a PBT exploit), the trial trains with its own optimizer settings.
    ``params`` (the sampled values) go to TensorBoard's HParams view. ``report`` and ``checkpoint_class`` default
    to ``ray.tune``'s; a Ray Train worker passes ``ray.train``'s; ``checkpoint_class=False`` reports metrics only.
    """

    def __init__(self, metric: str, params: dict | None = None, report: Callable | None = None, checkpoint_class=None):
        super().__init__()
        self.metric, self.report, self.checkpoint_class = metric, report, checkpoint_class
        self.params = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in (params or {}).items()}

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return  # two batches of an untrained model say nothing about the trial
        metrics = scalars(trainer)
        if self.metric not in metrics:
            raise UserError(not_logged_message(self.metric, metrics))
        metrics.update(epoch=trainer.current_epoch + 1, step=trainer.global_step, run_dir=trainer.default_root_dir)
        for logger in trainer.loggers if trainer.is_global_zero and self.params else []:
            if isinstance(logger, TensorBoardLogger):  # its HParams view shows the values against the metric
                logger.log_hyperparams(self.params, {self.metric: metrics[self.metric]}, step=trainer.global_step)
        from ray import tune

        report = self.report or tune.report
        if self.checkpoint_class is False:  # metrics only: no checkpoint saved
            report(metrics)
            return
        with tempfile.TemporaryDirectory(prefix="litproj-trial-") as folder:
            trainer.save_checkpoint(Path(folder) / CHECKPOINT_FILE)
            checkpoint_class = self.checkpoint_class or tune.Checkpoint
            checkpoint = checkpoint_class.from_directory(folder) if trainer.is_global_zero else None
            report(metrics, checkpoint=checkpoint)

"""PBT's perturbed values reach the optimizer of a trial restored from another trial's checkpoint.

PBT restarts a trial from a better trial's checkpoint with perturbed values (``--model.lr 0.012 --ckpt_path
donor.ckpt``). The module is built with the new values, but Lightning then loads the donor's optimizer and
LR-scheduler state over the optimizer ``configure_optimizers`` built, so without this the donor's learning
rate, weight decay or momentum would train on and the perturbation would change nothing.

The comparison is between optimizers, not names: what ``configure_optimizers`` built from the trial's values
against what it built from the donor's (saved in every checkpoint). So it works for any module, whatever it
calls its learning rate (``lr``, ``learning_rate``, an attribute, a value scaled by the batch size), and on a
plain resume (same values: nothing differs) it leaves a restored optimizer exactly as it was saved.
"""

from __future__ import annotations

from numbers import Real

from pytorch_lightning import Callback, LightningModule, Trainer

#: The checkpoint entry holding the optimizer settings as ``configure_optimizers`` built them.
BUILT_KEY = "litproj_built_optimizers"


def _setting(value) -> bool:
    """A numeric optimizer hyperparameter (lr, weight_decay, momentum, betas), not a flag such as ``foreach``."""
    if isinstance(value, (tuple, list)):
        return bool(value) and all(_setting(v) for v in value)
    return isinstance(value, Real) and not isinstance(value, bool)


def _base_lr(group: dict) -> float:
    """The learning rate a group was built with: an LR scheduler keeps it as ``initial_lr``, and moves ``lr``."""
    return float(group.get("initial_lr", group["lr"]))


def _settings(param_groups) -> list[dict]:
    """Param groups without their parameters: the numeric settings only."""
    return [
        {key: value for key, value in group.items() if key != "params" and _setting(value)} for group in param_groups
    ]


def optimizer_settings(optimizers) -> list[list[dict]]:
    """Each optimizer's settings, as ``configure_optimizers`` built them (before any checkpoint is loaded)."""
    return [_settings(optimizer.param_groups) for optimizer in optimizers]


def saved_settings(checkpoint: dict) -> list[list[dict]] | None:
    """The donor's built settings; for a checkpoint saved without this callback, its optimizers' saved groups.

    (Those hold the base learning rate as ``initial_lr`` when an LR scheduler ran, else the last one used.)
    """
    if BUILT_KEY in checkpoint:
        return checkpoint[BUILT_KEY]
    states = checkpoint.get("optimizer_states")
    return [_settings(state["param_groups"]) for state in states] if states else None


def apply_settings(trainer: Trainer, built: list[list[dict]], donor: list[list[dict]]) -> dict[str, tuple]:
    """Give the restored optimizers every setting where ``built`` (this trial) differs from ``donor``.

    A scheduled learning rate keeps its place in the schedule: the current value is scaled by new base / old
    base, and the scheduler's ``base_lrs`` take the new base. Returns ``{"opt0.group0.lr": (old, new), ...}``.
    """
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

    Records what ``configure_optimizers`` built (``on_fit_start``: after the optimizers exist, before
    Lightning loads a checkpoint's state into them), saves it with every checkpoint, and at ``on_train_start``
    (after the restore) puts back every setting the donor's checkpoint changed. :attr:`changed` lists them.
    """

    def __init__(self) -> None:
        self.built: list[list[dict]] | None = None
        self.donor: list[list[dict]] | None = None
        self.changed: dict[str, tuple] = {}

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self.donor = None  # each fit (an OOM retry too) restores its own checkpoint, or none

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.built = optimizer_settings(trainer.optimizers)

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict) -> None:
        if self.built is not None:
            checkpoint[BUILT_KEY] = self.built

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict) -> None:
        self.donor = saved_settings(checkpoint)

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

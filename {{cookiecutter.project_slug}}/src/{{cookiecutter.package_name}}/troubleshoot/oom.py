"""Survive a CUDA out-of-memory error during fit by training on with smaller batches and the same effective batch.

A callback cannot restart ``fit`` (Lightning tears the run down after any exception), so recovery is a
loop around ``trainer.fit``: free what the failed attempt held, halve the per-device batch, double
gradient accumulation (batch x accumulation, the batch the optimizer sees, stays the same), and resume
from the last checkpoint, or from the very start when none was written yet.

A module with ``automatic_optimization = False`` steps its optimizers itself, and Lightning refuses
to accumulate for it: there the batch is halved alone, and the run says that the effective batch shrank.
"""

from __future__ import annotations

import copy
import gc
from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.memory import is_oom_error

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.troubleshoot.batch import batch_size_of, data_name, set_batch_size
from {{ cookiecutter.package_name }}.troubleshoot.report import say

_MANUAL = "manual optimization cannot accumulate"


def recovery_wanted(setting: bool | None, trainer, simulating: bool, datamodule=None) -> bool:
    """``--oom_recovery``: as given, else on for GPU runs and for ``--simulate_oom_above`` (which exists to show it).

    Only single-process runs recover: under DDP the other ranks would wait forever in a collective
    while one rank retries, so there the error goes to the error explainer instead. A DataModule
    without a batch size to halve is named now, before training, not after the first OOM.

    Raises:
        UserError: ``--oom_recovery true`` on a DataModule without an int ``batch_size``.
    """
    wanted = setting if setting is not None else trainer.strategy.root_device.type == "cuda" or simulating
    if wanted and trainer.world_size > 1:
        say(f"--oom_recovery works on one process only; this run has {trainer.world_size}, so it is off.")
        return False
    if wanted and batch_size_of(datamodule) is None:
        problem = f"--oom_recovery: {data_name(datamodule)} has no batch_size attribute to halve"
        if setting:
            raise UserError(
                f"{problem}; give it an int `batch_size` its dataloaders read, or pass --oom_recovery false."
            )
        say(f"{problem}, so recovery is off (give it an int `batch_size` its dataloaders read to turn it on).")
        return False
    return bool(wanted)


def free_memory() -> None:
    """Drop what the failed attempt left behind (activations referenced by the traceback, cached blocks)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _last_checkpoint(trainer) -> str | None:
    callback = trainer.checkpoint_callback
    if callback is None or not callback.dirpath:
        return None
    last = Path(callback.dirpath) / "last.ckpt"
    return str(last) if last.is_file() else None


class OOMRecovery:
    """Runs ``fit`` until it succeeds, halving the batch after each out-of-memory error.

    Args:
        trainer: the run's Trainer (its ``accumulate_grad_batches`` is doubled on each retry, unless the
            model optimizes manually).
        model: the LightningModule (reset to its initial weights when no checkpoint exists yet).
        datamodule: must have an int ``batch_size`` (attribute or hyperparameter), the per-device batch that is halved.
    """

    def __init__(self, trainer: pl.Trainer, model: pl.LightningModule, datamodule: pl.LightningDataModule) -> None:
        self.trainer, self.model, self.datamodule = trainer, model, datamodule
        self.retries: list[dict] = []
        # Model weights and loop counters before anything ran: a retry without a checkpoint starts from here,
        # so the step count and the weights are those of a clean start, not of the failed attempt.
        self._initial_weights = copy.deepcopy(model.state_dict())
        self._initial_loop = copy.deepcopy(trainer.fit_loop.state_dict())

    def run(self, fit: Callable[[str | None], None], ckpt_path: str | None) -> None:
        """Call ``fit(ckpt_path)``; after an OOM, shrink the batch and call it again from the last checkpoint."""
        while True:
            try:
                fit(ckpt_path)
                return
            except RuntimeError as err:
                if not is_oom_error(err):
                    raise
                ckpt_path = self._prepare_retry(err) or ckpt_path

    def _prepare_retry(self, err: RuntimeError) -> str | None:
        batch = batch_size_of(self.datamodule)
        accumulation = self.trainer.accumulate_grad_batches
        if batch is None:
            raise UserError(
                f"out of memory, and {data_name(self.datamodule)} has no batch_size to shrink; "
                "lower the batch size of your data by hand."
            ) from err
        if batch <= 1:
            raise UserError(
                f"out of memory at batch size 1 (accumulating {accumulation} batches) after "
                f"{len(self.retries)} retries: the model alone does not fit. Try --trainer.precision bf16-mixed "
                "(or 16-mixed), a smaller model (--model.backbone for ImageClassifier), or a strategy that shards "
                "the model."
            ) from err
        free_memory()
        manual = not self.model.automatic_optimization  # Lightning refuses accumulate_grad_batches > 1 there
        new_batch, new_accumulation = batch // 2, accumulation if manual else accumulation * 2
        set_batch_size(self.datamodule, new_batch)
        self.trainer.accumulate_grad_batches = new_accumulation
        resume = _last_checkpoint(self.trainer)
        if resume is None:
            self.model.load_state_dict(self._initial_weights)
            self.trainer.fit_loop.load_state_dict(copy.deepcopy(self._initial_loop))
        # An OOM during the sanity check leaves the modules in eval mode; fit does not switch them back.
        self.model.train()
        step = self.trainer.global_step
        self.retries.append(
            {
                "at_step": step,
                "batch_size": new_batch,
                "accumulate_grad_batches": new_accumulation,
                "effective_batch_size": new_batch * new_accumulation,
                "resumed_from": resume,
                "error": str(err).split("\n")[0][:200],
            }
        )
        effective = f"effective batch {new_batch * new_accumulation}"
        if manual:
            effective = f"effective batch {batch * accumulation} -> {new_batch * new_accumulation}: {_MANUAL}"
        say(
            f"CUDA out of memory at step {step} with batch {batch}: retrying with batch {new_batch} x "
            f"accumulation {new_accumulation} ({effective}), from {resume or 'the start'}."
        )
        return resume

    def report(self, initial_batch: int, initial_accumulation: int) -> dict:
        """The ``oom_recovery`` section of results.json."""
        sizes = [initial_batch, *(r["batch_size"] for r in self.retries)]
        accumulations = [initial_accumulation, *(r["accumulate_grad_batches"] for r in self.retries)]
        effective = [b * a for b, a in zip(sizes, accumulations, strict=True)]
        count = len(self.retries)
        summary = f"{count} {'retry' if count == 1 else 'retries'}: batch {' → '.join(map(str, sizes))}"
        if accumulations[-1] != accumulations[0]:
            summary += f", accumulation {' → '.join(map(str, accumulations))}"
        report = {
            "summary": summary,
            "retries": self.retries,
            "final_batch_size": sizes[-1],
            "final_accumulate_grad_batches": accumulations[-1],
            "final_effective_batch_size": effective[-1],
        }
        if effective[-1] != effective[0]:
            why = f": {_MANUAL}" if not self.model.automatic_optimization else ""
            report["effective_batch_changed"] = f"effective batch {effective[0]} → {effective[-1]}{why}"
            report["summary"] += f"; effective batch {effective[0]} → {effective[-1]}{why}"
        return report

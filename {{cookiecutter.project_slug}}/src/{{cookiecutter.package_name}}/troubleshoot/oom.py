"""Survive a CUDA out-of-memory error during fit by training on with smaller batches and the same effective batch.

A callback cannot restart ``fit`` (Lightning tears the run down after any exception), so recovery is a
loop around ``trainer.fit``. ``--simulate_oom_above`` raises the same error on purpose, to see it on a CPU.
The batch it halves (and the batch-size finder sets) is the DataModule's ``batch_size`` attribute, its
``save_hyperparameters()`` value or both, kept in step as Lightning's tuner does.
"""

import copy
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.data import extract_batch_size
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from pytorch_lightning.utilities.memory import garbage_collection_cuda, is_oom_error
from torch import nn

from {{ cookiecutter.package_name }}.errors import UserError, say

_MANUAL = "manual optimization cannot accumulate"


def data_name(datamodule) -> str:
    return type(datamodule).__name__ if datamodule is not None else "this run (no DataModule)"


def _hparams(obj) -> dict:
    hparams = getattr(obj, "hparams", None)
    return hparams if isinstance(hparams, dict) else {}


def batch_size_of(datamodule) -> int | None:
    """The ``batch_size`` attribute, else ``hparams.batch_size``, when it is an int."""
    for value in (getattr(datamodule, "batch_size", None), _hparams(datamodule).get("batch_size")):
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
    return None


def set_batch_size(datamodule, value: int) -> None:
    if hasattr(datamodule, "batch_size"):
        datamodule.batch_size = value
    if "batch_size" in _hparams(datamodule):
        datamodule.hparams["batch_size"] = value


def require_batch_size(datamodule, flag: str, fix: str) -> int:
    """The batch size, or a one-line error for ``flag`` naming the DataModule that lacks one."""
    batch = batch_size_of(datamodule)
    if batch is None:
        raise UserError(f"{flag}: {data_name(datamodule)} has no batch_size attribute {fix}")
    return batch


def batch_length(batch) -> int | None:
    """Samples in a batch by Lightning's rule (the one ``self.log`` uses); None when it holds no tensor."""
    try:
        return extract_batch_size(batch)
    except (MisconfigurationException, RecursionError):
        return None


def simulated_oom(samples: int, limit: int) -> torch.cuda.OutOfMemoryError:
    """An error that Lightning and {{ cookiecutter.package_name }} treat exactly like a real CUDA OOM (same type, same wording; the
    4 MiB per sample is made up, the batch is real)."""
    return torch.cuda.OutOfMemoryError(
        f"CUDA out of memory. Tried to allocate {4 * samples:.2f} MiB. GPU 0 has a total "
        f"capacity of {4 * limit:.2f} MiB of which 0 bytes is free. "
        f"(simulated by --simulate_oom_above {limit}: a batch of {samples} samples reached the model)"
    )


def install_simulated_oom(model: nn.Module, max_samples: int) -> list:
    """Raise a simulated OOM whenever a batch larger than ``max_samples`` reaches ``model`` or a direct child.
    Forward pre-hooks, not a callback: Lightning's tuner runs its trials without callbacks, and the batch-size
    finder must see these errors too. Returns the hook handles."""

    def check(module: nn.Module, args: tuple, kwargs: dict) -> None:
        # The first input is the batch (``self(x)``, ``self(batch)``, ``self(x=x)``); later ones may be masks or flags.
        inputs = (*args, *kwargs.values())
        samples = batch_length(inputs[0]) if inputs else None
        if samples is not None and samples > max_samples:
            raise simulated_oom(samples, max_samples)

    return [m.register_forward_pre_hook(check, with_kwargs=True) for m in (model, *model.children())]


def recovery_wanted(setting: bool | None, trainer, simulating: bool, datamodule=None) -> bool:
    """``--oom_recovery`` as given, else on for GPU runs and ``--simulate_oom_above``; off under DDP (the other ranks
    would wait in a collective while one retries). A DataModule without a batch size is named before training."""
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


class OOMRecovery:
    """Runs ``fit`` until it succeeds: after each out-of-memory error it frees memory, halves the batch, doubles
    gradient accumulation (manual optimization cannot accumulate: there the effective batch shrinks, and the run
    says so) and resumes from ``last.ckpt``, or from the start when none was written yet."""

    def __init__(self, trainer: pl.Trainer, model: pl.LightningModule, datamodule: pl.LightningDataModule) -> None:
        self.trainer, self.model, self.datamodule = trainer, model, datamodule
        self.retries: list[dict] = []
        self._initial = (batch_size_of(datamodule) or 0, trainer.accumulate_grad_batches)
        # A retry without a checkpoint starts from these weights and loop counters, not the failed attempt's.
        self._initial_weights = copy.deepcopy(model.state_dict())
        self._initial_loop = copy.deepcopy(trainer.fit_loop.state_dict())

    def run(self, ckpt_path: str | None, weights_only: bool | None) -> None:
        while True:
            try:
                self.trainer.fit(self.model, datamodule=self.datamodule, ckpt_path=ckpt_path, weights_only=weights_only)
                return
            except RuntimeError as err:
                if not is_oom_error(err):
                    raise
                ckpt_path = self._prepare_retry(err) or ckpt_path

    def _prepare_retry(self, err: RuntimeError) -> str | None:
        batch = batch_size_of(self.datamodule)
        accumulation = self.trainer.accumulate_grad_batches
        if batch is None:  # recovery_wanted checked it at the start; the DataModule may have changed it since
            raise UserError(
                f"out of memory, and {data_name(self.datamodule)} has no integer batch_size to shrink; "
                "lower the batch size of your data by hand."
            ) from err
        if batch <= 1:
            raise UserError(
                f"out of memory at batch size 1 (accumulating {accumulation} batches) after "
                f"{len(self.retries)} retries: the model alone does not fit. Try --trainer.precision bf16-mixed "
                "(or 16-mixed), a smaller model (--model.backbone for ImageClassifier), or a strategy that shards "
                "the model."
            ) from err
        garbage_collection_cuda()  # drop the failed attempt's activations (the traceback held them) and cached blocks
        manual = not self.model.automatic_optimization  # Lightning refuses accumulate_grad_batches > 1 there
        new_batch, new_accumulation = batch // 2, accumulation if manual else accumulation * 2
        set_batch_size(self.datamodule, new_batch)
        self.trainer.accumulate_grad_batches = new_accumulation
        callback = self.trainer.checkpoint_callback
        last = Path(callback.dirpath) / "last.ckpt" if callback is not None and callback.dirpath else None
        resume = str(last) if last is not None and last.is_file() else None
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

    def report(self) -> dict:
        """The ``oom_recovery`` section of results.json."""
        sizes = [self._initial[0], *(r["batch_size"] for r in self.retries)]
        accumulations = [self._initial[1], *(r["accumulate_grad_batches"] for r in self.retries)]
        first, last = sizes[0] * accumulations[0], sizes[-1] * accumulations[-1]
        count = len(self.retries)
        summary = f"{count} {'retry' if count == 1 else 'retries'}: batch {' → '.join(map(str, sizes))}"
        if accumulations[-1] != accumulations[0]:
            summary += f", accumulation {' → '.join(map(str, accumulations))}"
        report = {
            "summary": summary,
            "retries": self.retries,
            "final_batch_size": sizes[-1],
            "final_accumulate_grad_batches": accumulations[-1],
            "final_effective_batch_size": last,
        }
        if last != first:
            why = f": {_MANUAL}" if not self.model.automatic_optimization else ""
            report["effective_batch_changed"] = f"effective batch {first} → {last}{why}"
            report["summary"] += f"; {report['effective_batch_changed']}"
        return report

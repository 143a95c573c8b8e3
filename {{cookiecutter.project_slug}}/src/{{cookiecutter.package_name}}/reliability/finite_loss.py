"""Stop at the first non-finite training loss, naming the step, instead of silently training on NaN."""

from __future__ import annotations

import torch
from pytorch_lightning import Callback

from {{ cookiecutter.package_name }}.errors import UserError


class FiniteLossGuard(Callback):
    """Raise a one-line :class:`UserError` when the training loss is NaN or infinite.

    The check runs before the backward pass, so the weights of the last good step stay intact, and the
    decision is shared across ranks (a NaN on one rank stops all of them together instead of leaving the
    others waiting in the next all-reduce).
    """

    def on_before_backward(self, trainer, pl_module, loss: torch.Tensor) -> None:
        finite = bool(torch.isfinite(loss.detach()).all())
        if trainer.strategy.reduce_boolean_decision(finite, all=True):
            return
        epoch_loop = trainer.fit_loop.epoch_loop
        batch = epoch_loop.batch_progress.current.ready - 1
        value = "non-finite on another rank" if finite else f"{loss.detach().float().mean().item()}"
        raise UserError(
            f"training loss is {value} at step {trainer.global_step} "
            f"(epoch {trainer.current_epoch}, batch {batch}). Lower --model.lr, clip gradients with "
            "--trainer.gradient_clip_val 1.0, or check the data for NaN/inf values."
        )

"""Stop at the first non-finite training loss, naming the step, instead of silently training on NaN."""

from __future__ import annotations

import torch
from pytorch_lightning import Callback

from litproj.errors import UserError


class FiniteLossGuard(Callback):
    """Raise a one-line :class:`UserError` naming the first step whose training loss was NaN or infinite.

    Reading a loss on the host waits for the GPU, so checking every step would stall it every step. Each step
    only keeps its loss tensor and position; they are checked together (one wait, one all-reduce, so all ranks
    stop at once) before an optimizer step that logs or saves (``LitCheckpoint.every_n_steps``), before
    validation, at epoch end and before a checkpoint is written: none holds weights a bad step corrupted.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[int, int, int, torch.Tensor]] = []  # step, epoch, batch, loss
        self.intervals: list[int] = []

    def on_train_start(self, trainer, pl_module) -> None:
        self.pending = []
        # The step intervals at which someone reads the weights: the loggers, and litproj's step checkpoints.
        steps = [getattr(callback, "every_n_steps", 0) for callback in trainer.checkpoint_callbacks]
        self.intervals = [trainer.log_every_n_steps, *steps]

    def on_before_backward(self, trainer, pl_module, loss: torch.Tensor) -> None:
        batch = trainer.fit_loop.epoch_loop.batch_progress.current.ready - 1
        self.pending.append((trainer.global_step, trainer.current_epoch, batch, loss.detach()))

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if any(n and (trainer.global_step + 1) % n == 0 for n in self.intervals):
            self.check(trainer)

    def on_validation_start(self, trainer, pl_module) -> None:
        self.check(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.check(trainer)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        self.check(trainer)

    def check(self, trainer) -> None:
        """Raise if a pending loss on any rank is not finite (every rank calls this at the same point)."""
        if not self.pending:
            return
        finite = torch.stack([torch.isfinite(loss).all() for *_, loss in self.pending])
        first_bad = torch.where(finite, len(finite), torch.arange(len(finite), device=finite.device)).min()
        index = int(trainer.strategy.reduce(first_bad, reduce_op="min"))
        if index == len(finite):
            self.pending = []
            return
        step, epoch, batch, loss = self.pending[index]
        value = "non-finite on another rank" if finite[index] else f"{loss.float().mean().item()}"
        raise UserError(
            f"training loss is {value} at step {step} (epoch {epoch}, batch {batch}). Lower --model.lr, clip "
            "gradients with --trainer.gradient_clip_val 1.0, or check the data for NaN/inf values."
        )

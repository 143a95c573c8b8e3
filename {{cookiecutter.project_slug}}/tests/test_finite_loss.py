"""The NaN-loss stop: it names the first bad step, checks the losses at the logging cadence instead of
waiting for the device every step, and no checkpoint {{ cookiecutter.package_name }} writes holds weights from a bad step."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.reliability.finite_loss import FiniteLossGuard
from tests.helpers import train


def _trainer(reduces: list[int]) -> SimpleNamespace:
    def reduce(value, reduce_op):
        reduces.append(int(value))
        return value

    progress = SimpleNamespace(current=SimpleNamespace(ready=0))
    return SimpleNamespace(
        strategy=SimpleNamespace(reduce=reduce),
        log_every_n_steps=10,
        checkpoint_callbacks=[],
        global_step=0,
        current_epoch=0,
        fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)),
    )


def test_losses_are_checked_at_the_logging_cadence_and_the_first_bad_step_is_named():
    reduces: list[int] = []
    trainer, guard = _trainer(reduces), FiniteLossGuard()
    guard.on_train_start(trainer, None)
    for step in range(20):
        trainer.global_step = step
        trainer.fit_loop.epoch_loop.batch_progress.current.ready = step + 1
        guard.on_before_backward(trainer, None, torch.tensor(float("nan") if step in (13, 15) else 1.0))
        if step < 19:
            guard.on_before_optimizer_step(trainer, None, None)
    assert len(reduces) == 1  # one check (one device wait) in 19 steps: after step 9, the logging cadence
    with pytest.raises(UserError, match=r"^training loss is nan at step 13 \(epoch 0, batch 13\)\. Lower --model\.lr"):
        guard.on_before_optimizer_step(trainer, None, None)  # step 19 closes the next 10
    assert reduces == [10, 3]  # the first bad loss among those pending, as an index, reduced across ranks (min)


def test_no_checkpoint_holds_weights_from_a_bad_step(tmp_path):
    args = ["--model", "tests.byo.models.NanFromStep7", "--data", "tests.byo.data.DigitsVectors"]
    args += ["--trainer.max_epochs", "5", "--trainer.log_every_n_steps", "50", "--checkpoint.every_n_steps", "2"]
    with pytest.raises(UserError, match=r"training loss is nan at step 7 \("):
        train(tmp_path, *args)
    saved = sorted((tmp_path / "runs").rglob("*.ckpt"))
    assert saved, "the step checkpoints before the bad step exist"
    for path in saved:
        weights = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
        assert all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point()), path

"""``ddp_spawn`` whose launching process learns how far training got (steps, epochs), not only the metrics.

With ``ddp_spawn`` the ranks train in child processes. Lightning sends back to the launching process the
weights, the best checkpoint path and ``trainer.callback_metrics``, but not the loops' progress, so
``results.json`` said ``global_step = 0``. Rank 0 adds its progress to the metrics that travel back, and
:func:`fit_progress` takes it out on the other side: Lightning's public path, no launcher of our own.
"""

from __future__ import annotations

from typing import Any

import torch
from pytorch_lightning.strategies import DDPStrategy

STEP_KEY, EPOCH_KEY = "trainer/global_step", "trainer/epochs"


class SpawnDDPStrategy(DDPStrategy):
    """DDP with ranks started by ``torch.multiprocessing`` (``spawn``, or ``fork`` where available).

    Args:
        start_method: ``spawn`` (works everywhere, re-imports your code in each rank) or ``fork``.
        kwargs: any :class:`~pytorch_lightning.strategies.DDPStrategy` argument (e.g. ``find_unused_parameters``).
    """

    strategy_name = "ddp_spawn_progress"

    def __init__(self, start_method: str = "spawn", find_unused_parameters: bool = False, **kwargs: Any) -> None:
        super().__init__(start_method=start_method, find_unused_parameters=find_unused_parameters, **kwargs)

    def on_train_end(self) -> None:
        super().on_train_end()
        trainer = self.lightning_module.trainer
        trainer.callback_metrics[STEP_KEY] = torch.tensor(trainer.global_step)
        trainer.callback_metrics[EPOCH_KEY] = torch.tensor(trainer.current_epoch)


def fit_progress(trainer, metrics: dict[str, float]) -> tuple[int, int]:
    """``(global_step, epochs)``: what ddp_spawn's ranks sent back (removed from ``metrics``), else the trainer's."""
    step, epochs = metrics.pop(STEP_KEY, None), metrics.pop(EPOCH_KEY, None)
    if step is None or epochs is None:
        return trainer.global_step, trainer.current_epoch
    return int(step), int(epochs)

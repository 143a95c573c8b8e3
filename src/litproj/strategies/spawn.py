"""``ddp_spawn`` whose launching process learns how far training got (steps, epochs), not only the metrics.

Lightning sends back from ddp_spawn's child processes the weights, the best checkpoint path and
``trainer.callback_metrics``, not the loops' progress (``results.json`` said ``global_step = 0``). Rank 0 adds
its fit loop's state to those metrics and :func:`restore_fit_progress` loads it: no launcher of our own.
"""

from __future__ import annotations

from typing import Any

from pytorch_lightning.strategies import DDPStrategy

FIT_LOOP_KEY = "litproj/fit_loop_state"


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
        metrics: dict[str, Any] = trainer.callback_metrics
        metrics[FIT_LOOP_KEY] = trainer.fit_loop.state_dict()  # plain ints and dicts: survives weights_only loading


def restore_fit_progress(trainer) -> None:
    """After ``trainer.fit``: load the fit loop's state that ddp_spawn's rank 0 sent back (no-op otherwise)."""
    state = trainer.callback_metrics.pop(FIT_LOOP_KEY, None)
    if state is not None:
        trainer.fit_loop.load_state_dict(state)

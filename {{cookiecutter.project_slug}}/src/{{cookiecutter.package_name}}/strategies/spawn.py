"""``ddp_spawn`` whose launching process learns how far training got (steps, epochs), not only the metrics.

With ``ddp_spawn`` the ranks train in child processes; Lightning sends back the weights, the metrics and
the best checkpoint path, but not the loops' progress, so the launching process reported
``global_step = 0`` in ``results.json``. This launcher also returns rank 0's fit-loop state.
"""

from __future__ import annotations

from typing import Any

from pytorch_lightning.strategies import DDPStrategy
from pytorch_lightning.strategies.launchers.multiprocessing import _MultiProcessingLauncher


class _ProgressReturningLauncher(_MultiProcessingLauncher):
    def get_extra_results(self, trainer) -> dict[str, Any]:
        return {**super().get_extra_results(trainer), "fit_loop": trainer.fit_loop.state_dict()}

    def update_main_process_results(self, trainer, extra: dict[str, Any]) -> None:
        super().update_main_process_results(trainer, extra)
        trainer.fit_loop.load_state_dict(extra["fit_loop"])


class SpawnDDPStrategy(DDPStrategy):
    """DDP with ranks started by ``torch.multiprocessing`` (``spawn``, or ``fork`` where available).

    Args:
        start_method: ``spawn`` (works everywhere, re-imports your code in each rank) or ``fork``.
        kwargs: any :class:`~pytorch_lightning.strategies.DDPStrategy` argument (e.g. ``find_unused_parameters``).
    """

    strategy_name = "ddp_spawn_progress"

    def __init__(self, start_method: str = "spawn", find_unused_parameters: bool = False, **kwargs: Any) -> None:
        super().__init__(start_method=start_method, find_unused_parameters=find_unused_parameters, **kwargs)

    def _configure_launcher(self) -> None:
        self._launcher = _ProgressReturningLauncher(self, start_method=self._start_method)

"""Progress while a search runs: one line per finished trial and, now and then, the table of the best.

Ray's own status output is turned off (it lists every trial on every update); this prints what a
person watching a search wants to know, in the same table the search ends with.
"""

from __future__ import annotations

import time

from ray.tune import Callback

from {{ cookiecutter.package_name }}.tune.results import console, table, trial_row


class RichProgress(Callback):
    """Prints trial ends as they happen and the top-trials table at most every ``interval`` seconds.

    Args:
        metric: the objective; mode: ``min`` or ``max``; max_epochs: to tell early stops from finishes.
        interval: seconds between tables.
    """

    def __init__(self, metric: str, mode: str, max_epochs: int, interval: float = 30.0):
        self.metric = metric
        self.mode = mode
        self.max_epochs = max_epochs
        self.interval = interval
        self._last_table = time.monotonic()

    def _print_end(self, trial, how: str) -> None:
        row = trial_row(trial, self.metric, self.mode)
        value = "-" if row.best is None else f"{row.best:.4f}"
        detail = f": {row.error}" if row.error else ""
        console().print(f"trial {row.trial_id} {how} after {row.epochs} epochs, {self.metric} {value}{detail}")

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if time.monotonic() - self._last_table >= self.interval:
            self._last_table = time.monotonic()
            rows = [trial_row(t, self.metric, self.mode) for t in trials]
            console().print(table(rows, self.metric, self.mode, self.max_epochs, "search so far", top=5))

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        how = "stopped early" if trial_row(trial, self.metric, self.mode).epochs < self.max_epochs else "finished"
        self._print_end(trial, how)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._print_end(trial, "failed")

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_last_table": 0.0}

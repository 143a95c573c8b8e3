"""Watching a running search: a line per finished trial, the table of the best, the missing-metric guard.

Ray's own status output is off (it lists every trial on every update). A metric the model never logs fails
every trial alike, so the first trial that fails for it ends the search.
"""

from __future__ import annotations

import re
import time

from ray.tune import Callback, Stopper

from {{ cookiecutter.package_name }}.tune.callback import NOT_LOGGED
from {{ cookiecutter.package_name }}.tune.results import console, table, trial_row

_MISSING = re.compile(rf"(--metric \S+: {re.escape(NOT_LOGGED)}.*)")


class RichProgress(Callback):
    """Prints trial ends as they happen and the top-trials table at most every ``interval`` seconds."""

    def __init__(self, metric: str, mode: str, max_epochs: int, interval: float = 30.0):
        self.metric, self.mode, self.max_epochs, self.interval = metric, mode, max_epochs, interval
        self._last_table = time.monotonic()

    def _print_end(self, trial, how: str | None = None) -> None:
        row = trial_row(trial, self.metric, self.mode)
        how = how or ("stopped early" if row.epochs < self.max_epochs else "finished")
        value = "-" if row.best is None else f"{row.best:.4f}"
        detail = f": {row.error}" if row.error else ""
        console().print(f"trial {row.trial_id} {how} after {row.epochs} epochs, {self.metric} {value}{detail}")

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if time.monotonic() - self._last_table >= self.interval:
            self._last_table = time.monotonic()
            rows = [trial_row(t, self.metric, self.mode) for t in trials]
            console().print(table(rows, self.metric, self.mode, self.max_epochs, "search so far", top=5))

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._print_end(trial)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._print_end(trial, "failed")

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_last_table": 0.0}


def missing_metric_line(error: object) -> str | None:
    """The one-line "never logs it" error inside a trial's error text, if that is why the trial failed."""
    found = _MISSING.search(str(error or ""))
    return found.group(1).strip() if found else None


class MetricGuard(Callback, Stopper):
    """Ends the search (no retry, no further trials) at the first trial that fails for a missing metric.

    Pass it both as a callback and as the stopper; :attr:`message` then holds that trial's one-line error.
    """

    def __init__(self) -> None:
        self.message: str | None = None

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.message = self.message or missing_metric_line(trial.get_error())

    on_trial_recover = on_trial_error  # a trial Ray will retry fails for the missing metric again

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.message is not None

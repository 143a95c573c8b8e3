"""Ending a search at the first trial that never logs the metric: every other trial would fail alike.

The dry run before Ray starts (:mod:`{{ cookiecutter.package_name }}.tune.metric`) catches a missing metric in most searches;
this catches it where that run could not, without retrying the trial or starting the others.
"""

from __future__ import annotations

import re

from ray.tune import Callback, Stopper

from {{ cookiecutter.package_name }}.tune.callback import NOT_LOGGED

_MISSING = re.compile(rf"(--metric \S+: {re.escape(NOT_LOGGED)}.*)")


def missing_metric_line(error: object) -> str | None:
    """The one-line "never logs it" error inside a trial's error text, if that is why the trial failed."""
    found = _MISSING.search(str(error or ""))
    return found.group(1).strip() if found else None


class MetricGuard(Callback):
    """Watches failing trials; :attr:`message` holds the first one-line missing-metric error."""

    def __init__(self) -> None:
        self.message: str | None = None

    def _check(self, trial) -> None:
        if self.message is None:
            self.message = missing_metric_line(trial.get_error())

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        self._check(trial)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._check(trial)

    def stopper(self) -> Stopper:
        """The stopper that ends the search (no retry, no further trials) once :attr:`message` is set."""
        return _StopOnMessage(self)


class _StopOnMessage(Stopper):
    def __init__(self, guard: MetricGuard) -> None:
        self.guard = guard

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.guard.message is not None

"""What a search shows: one row per trial and a rich table of the best ones."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table


@dataclass
class TrialRow:
    """One trial as the summary shows it; ``best`` is the best value of the metric over its reports."""

    trial_id: str
    status: str
    values: dict
    best: float | None
    last: float | None
    epochs: int
    run_dir: str | None
    error: str | None
    failures: int = 0
    note: str | None = None

    def state(self, max_epochs: int) -> str:
        """Finished, stopped early (ASHA; HyperBand also leaves trials paused for good), failed, or unfinished."""
        if self.status in ("TERMINATED", "PAUSED"):
            return "stopped early" if self.epochs < max_epochs else "finished"
        return {"ERROR": "failed"}.get(self.status, self.status.lower())


def _run_note(run_dir: str | None) -> str | None:
    """What the trial's run had to do to finish, from its ``results.json`` (the batch an OOM recovery settled on)."""
    path = Path(run_dir) / "results.json" if run_dir else None
    if path is None or not path.is_file():
        return None
    try:
        recovery = json.loads(path.read_text(encoding="utf-8")).get("oom_recovery") or {}
    except (OSError, ValueError):
        return None  # being written by the trial right now: the next look finds it
    return f"out of memory, {recovery['summary']}" if recovery.get("summary") else None


def trial_row(trial, metric: str, mode: str) -> TrialRow:
    """A row from Ray's ``Trial`` (its config, last result and per-metric statistics)."""
    result = trial.last_result or {}
    error = trial.get_error() if trial.status == "ERROR" else None
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    stats = trial.metric_analysis.get(metric, {})
    return TrialRow(
        trial_id=trial.trial_id,
        status=trial.status,
        values=dict(trial.config),
        best=stats.get(mode),
        last=stats.get("last"),
        epochs=int(result.get("training_iteration", 0) or 0),
        run_dir=result.get("run_dir"),
        error=None if error is None else lines[-1] if lines else type(error).__name__,
        failures=int(getattr(trial, "num_failures", 0)),
        note=_run_note(result.get("run_dir")),
    )


def ranked(rows: list[TrialRow], mode: str) -> list[TrialRow]:
    """Best first; trials that never reported go last."""
    sign = -1 if mode == "max" else 1
    return sorted(rows, key=lambda r: (r.best is None, sign * r.best if r.best is not None else 0.0))


def _value(value) -> str:
    if isinstance(value, float) and value != 0 and not math.isinf(value) and (abs(value) < 1e-2 or abs(value) >= 1e4):
        return f"{value:.2e}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def table(rows: list[TrialRow], metric: str, mode: str, max_epochs: int, title: str, top: int = 10) -> Table:
    """The top ``top`` trials, best first, with their values, epochs used and state."""
    keys = sorted({k for r in rows for k in r.values})
    short = {k: k.rsplit(".", 1)[-1] for k in keys}
    if len(set(short.values())) < len(keys):
        short = {k: k for k in keys}
    shown = ranked(rows, mode)[:top]
    grid = Table(title=f"{title} · top {len(shown)} of {len(rows)} by {metric} ({mode})")
    for column in ("#", "trial", *short.values(), metric, "epochs", "state"):
        grid.add_column(column, style="bold cyan" if column == metric else None)
    for rank, row in enumerate(shown, 1):
        best = "-" if row.best is None else f"{row.best:.4f}"
        detail = row.error or row.note
        state = row.state(max_epochs) + (f": {detail[:60]}" if detail else "")
        values = [_value(row.values.get(k, "")) for k in keys]
        grid.add_row(str(rank), row.trial_id, *values, best, str(row.epochs), state)
    return grid


def console() -> Console:
    """A console wide enough for the table also when stdout is a file or a pipe (rich assumes 80 there)."""
    terminal = Console()
    return terminal if terminal.is_terminal else Console(width=160)

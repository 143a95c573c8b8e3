"""Where troubleshooting features leave their findings: a line for the user now, a section in results.json later."""

from __future__ import annotations

from pytorch_lightning import Callback

from {{ cookiecutter.package_name }}.errors import say

__all__ = ["RunNotes", "run_notes", "say"]


class RunNotes(Callback):
    """Collects the troubleshooting sections of a run (OOM retries, finder results, precision) for results.json.

    It is a callback only so that the summary finds it through ``{{ cookiecutter.package_name }}_report()`` like every other
    contributor; it hooks into nothing. A section with a ``summary`` string also gets a row in the summary table.
    """

    def __init__(self) -> None:
        self.sections: dict[str, dict] = {}

    def add(self, name: str, **values) -> None:
        self.sections.setdefault(name, {}).update(values)

    def {{ cookiecutter.package_name }}_report(self) -> dict:
        return dict(self.sections)


def run_notes(trainer) -> RunNotes:
    """The run's :class:`RunNotes`, added to the trainer on first use."""
    for callback in trainer.callbacks:
        if isinstance(callback, RunNotes):
            return callback
    notes = RunNotes()
    trainer.callbacks.append(notes)
    return notes

"""A training ``DataLoader`` that resumes mid-epoch, so a run stopped by SIGTERM (or resumed from a step checkpoint)
trains on the same batches as one never stopped.

Lightning's own remedy, a loader with ``state_dict``/``load_state_dict``, is not enough in 2.6: a module whose
``configure_optimizers`` reads ``trainer.estimated_stepping_batches`` ({{ cookiecutter.package_name }}'s OneCycle) makes Lightning build the
loaders before it restores the checkpoint, and the saved state is never handed back. The Trainer's restored
progress counts the batches already trained on, though, and this loader reads it at the epoch's first batch.
Exact when the epoch's order depends only on the epoch (``DistributedSampler``, or no shuffling); a single
process's shuffled order is drawn from the RNG at the epoch's start, so there only the count of batches is right.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader


class ResumableLoader(DataLoader):
    """``DataLoader`` that skips the batches of the current epoch its owner's Trainer has already trained on.

    Args:
        owner: the DataModule whose ``trainer`` holds that count; ``None`` (or no Trainer): skip nothing.
    """

    def __init__(self, *args: Any, owner: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner

    def state_dict(self) -> dict[str, Any]:
        """Nothing of its own (the count is in the Trainer's progress): having this method and
        :meth:`load_state_dict` tells Lightning the loader resumes mid-epoch."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """See :meth:`state_dict`."""

    def __iter__(self) -> Iterator[Any]:
        trainer = getattr(self.owner, "trainer", None)
        skip = 0  # validation, test and predict loaders start at the start
        if trainer is not None and trainer.training:  # read after Lightning restored its progress
            skip = trainer.fit_loop.epoch_loop.batch_progress.current.ready
        # The interrupted run drew its iterator's seed at the epoch's start, before the RNG state it saved.
        with torch.random.fork_rng(devices=[], enabled=skip > 0):
            batches = super().__iter__()
        yield from itertools.islice(batches, skip, None)

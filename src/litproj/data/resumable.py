"""A training ``DataLoader`` that resumes mid-epoch, so a run stopped by SIGTERM (or resumed from a step checkpoint)
trains on the same batches as one never stopped.

A plain ``DataLoader`` restarts the resumed epoch from its first batch (Lightning warns "your dataloader is not
resumable"). Lightning's remedy, a loader with ``state_dict``/``load_state_dict``, is not enough in 2.6: a module
whose ``configure_optimizers`` reads ``trainer.estimated_stepping_batches`` (a OneCycle schedule, as litproj's
example) makes Lightning build the loaders before it restores the checkpoint, and the saved state is never handed
back. The batches to skip are already in the checkpoint, though: the Trainer's restored progress counts the
batches of the epoch trained on, and this loader reads that count when the epoch's first batch is requested.

Exact when the epoch's order depends only on the epoch (Lightning's ``DistributedSampler`` under DDP, or no
shuffling); a single process's shuffled order is drawn from the RNG at the epoch's start, so there the count of
batches is right but not the samples.
"""

from __future__ import annotations

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
        """Nothing of its own: the count lives in the Trainer's progress, saved in every checkpoint. Having this
        method (and :meth:`load_state_dict`) tells Lightning the loader resumes mid-epoch."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """See :meth:`state_dict`."""

    def _trained(self) -> int:
        trainer = getattr(self.owner, "trainer", None)
        if trainer is None or not trainer.training:  # validation, test and predict loaders start at the start
            return 0
        return trainer.fit_loop.epoch_loop.batch_progress.current.ready

    def __iter__(self) -> Iterator[Any]:
        skip = self._trained()  # read at the epoch's first batch, after Lightning restored its progress
        if skip:  # the interrupted run drew its iterator's seed at the epoch's start, before the RNG state it saved
            with torch.random.fork_rng(devices=[]):
                batches = super().__iter__()
        else:
            batches = super().__iter__()
        for index, batch in enumerate(batches):
            if index >= skip:
                yield batch

"""Issue 14 with real ranks (slow): a rank stuck longer than ``--dist_timeout`` ends a ``ddp_spawn`` job."""

from __future__ import annotations

import time

import pytest

from tests.byo.models import VectorClassifier
from tests.helpers import train

#: How long rank 1 stays away from the collectives, against a --dist_timeout of TIMEOUT seconds.
STUCK, TIMEOUT = 120, 15


class StuckRank(VectorClassifier):
    """Rank 1 stops answering collectives for ``STUCK`` seconds in its second training step (alive but silent)."""

    def training_step(self, batch, batch_idx):
        if batch_idx == 1 and self.global_rank == 1:
            time.sleep(STUCK)
        return super().training_step(batch, batch_idx)


@pytest.mark.slow
def test_a_rank_silent_longer_than_dist_timeout_ends_a_ddp_spawn_job(tmp_path):
    # gloo names the timeout it was given: --dist_timeout's, not torch's 30 minutes (the job would then end
    # normally once the silent rank came back).
    with pytest.raises(Exception, match=rf"(?i)timed out waiting {TIMEOUT * 1000}\s*ms"):
        train(
            tmp_path, "fit", "--strategy", "ddp_spawn", "--trainer.devices", "2", "--trainer.accelerator", "cpu",
            "--dist_timeout", str(TIMEOUT), "--model", f"{__name__}.StuckRank",
            "--data", "tests.byo.data.DigitsVectors",
            "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "1",
            "--trainer.num_sanity_val_steps", "0", "--trainer.logger", "false",
        )  # fmt: skip

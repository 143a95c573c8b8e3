"""A rich progress bar that reads the logged metrics at the logging cadence instead of every step."""

from __future__ import annotations

from pytorch_lightning.callbacks import RichProgressBar


class CadencedRichProgressBar(RichProgressBar):
    """``RichProgressBar`` whose metrics refresh every ``log_every_n_steps`` steps and at each epoch's end: Lightning's
    reads every metric after every step, and on a GPU each read is a sync that stops the CPU queueing the next."""

    _read_metrics = True
    _shown: dict | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        step = batch_idx + 1
        self._read_metrics = step % max(1, trainer.log_every_n_steps) == 0 or step == self.total_train_batches
        try:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        finally:
            self._read_metrics = True

    def get_metrics(self, trainer, pl_module) -> dict:
        if self._read_metrics or self._shown is None:
            self._shown = super().get_metrics(trainer, pl_module)
        return self._shown

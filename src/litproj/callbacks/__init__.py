"""Callbacks litproj adds to every Trainer."""

from litproj.callbacks.hparams import FinalMetricsToHParams
from litproj.callbacks.progress import CadencedRichProgressBar

__all__ = ["CadencedRichProgressBar", "FinalMetricsToHParams"]

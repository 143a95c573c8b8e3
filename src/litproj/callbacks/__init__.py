"""Callbacks litproj adds to every Trainer."""

from litproj.callbacks.hparams import FinalMetricsToHParams

__all__ = ["FinalMetricsToHParams"]

"""Callbacks litproj adds to every Trainer."""

from litproj.callbacks.hparams import FinalMetricsToHParams
from litproj.callbacks.progress import CadencedRichProgressBar
from litproj.callbacks.trackers import TrackerRuns

__all__ = ["CadencedRichProgressBar", "FinalMetricsToHParams", "TrackerRuns"]

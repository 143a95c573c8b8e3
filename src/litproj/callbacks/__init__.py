"""Callbacks litproj adds to every Trainer."""

from litproj.callbacks.hparams import FinalMetricsToHParams
from litproj.callbacks.trackers import TrackerRuns

__all__ = ["FinalMetricsToHParams", "TrackerRuns"]

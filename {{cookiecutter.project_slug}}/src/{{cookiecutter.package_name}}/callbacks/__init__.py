"""Callbacks {{ cookiecutter.package_name }} adds to every Trainer."""

from {{ cookiecutter.package_name }}.callbacks.hparams import FinalMetricsToHParams
from {{ cookiecutter.package_name }}.callbacks.progress import CadencedRichProgressBar
from {{ cookiecutter.package_name }}.callbacks.trackers import TrackerRuns

__all__ = ["CadencedRichProgressBar", "FinalMetricsToHParams", "TrackerRuns"]

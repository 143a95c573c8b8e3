"""Callbacks {{ cookiecutter.package_name }} adds to every Trainer."""

from {{ cookiecutter.package_name }}.callbacks.hparams import FinalMetricsToHParams

__all__ = ["FinalMetricsToHParams"]

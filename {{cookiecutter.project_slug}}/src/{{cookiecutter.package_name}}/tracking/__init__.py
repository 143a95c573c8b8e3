"""Where runs are recorded: loggers placed in the run folder, tracker runs named in ``results.json``, final
metrics in TensorBoard's HParams view, the confusion-matrix figure. A fork keeps it (``cli/`` uses it)."""

from {{ cookiecutter.package_name }}.tracking.loggers import place_loggers
from {{ cookiecutter.package_name }}.tracking.trackers import FinalMetricsToHParams, TrackerRuns

__all__ = ["FinalMetricsToHParams", "TrackerRuns", "place_loggers"]

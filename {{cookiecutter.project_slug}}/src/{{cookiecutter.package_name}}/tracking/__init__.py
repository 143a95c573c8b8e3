"""Where runs are recorded: the loggers of ``configs/logger/``, the tracker runs named in ``results.json``,
final metrics in TensorBoard's HParams view, and the confusion-matrix figure.

A fork that logs only to TensorBoard can delete ``loggers.py``'s extras but keeps the package:
``cli/app.py`` places the loggers in the run folder with :func:`place_loggers`.
"""

from {{ cookiecutter.package_name }}.tracking.hparams import FinalMetricsToHParams
from {{ cookiecutter.package_name }}.tracking.loggers import place_loggers
from {{ cookiecutter.package_name }}.tracking.trackers import TrackerRuns

__all__ = ["FinalMetricsToHParams", "TrackerRuns", "place_loggers"]

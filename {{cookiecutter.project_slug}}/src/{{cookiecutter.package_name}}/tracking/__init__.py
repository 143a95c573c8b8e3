"""Where runs are recorded: loggers placed in the run folder, tracker runs named in ``results.json``, final
metrics in TensorBoard's HParams view, the confusion-matrix figure, the code and packages that made each run
(provenance). A fork keeps it (``cli/`` uses it)."""

from {{ cookiecutter.package_name }}.tracking.loggers import place_loggers
from {{ cookiecutter.package_name }}.tracking.provenance import Provenance
from {{ cookiecutter.package_name }}.tracking.trackers import FinalMetricsToHParams, TrackerRuns

__all__ = ["FinalMetricsToHParams", "Provenance", "TrackerRuns", "place_loggers"]

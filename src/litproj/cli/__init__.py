"""The command line: ``train.py``'s LightningCLI subclass, the one build path, and what a run leaves behind.

* :mod:`~litproj.cli.app`: :class:`LitCLI` and :func:`build`, the only way a Trainer, model and
  datamodule are made (train.py, the search's trials, tests and benchmarks all use it);
* :mod:`~litproj.cli.runner`: run a stage end to end and return ``results.json``'s dict;
* :mod:`~litproj.cli.args`, :mod:`~litproj.cli.parse_errors`, :mod:`~litproj.cli.config_errors`: the raw
  command line before parsing, and one-line parse errors;
* :mod:`~litproj.cli.summary`, :mod:`~litproj.cli.predictions`, :mod:`~litproj.cli.progress`,
  :mod:`~litproj.cli.logs`: the summary table, ``predictions.csv``, the progress bar, quiet stderr.

The top floor: nothing below it imports it (only the search, whose trials are cli builds, and
``__main__``). A fork keeps it.
"""

from litproj.cli.app import LitCLI, build

__all__ = ["LitCLI", "build"]

"""The command line: :class:`LitCLI` and :func:`build`, the only way a Trainer, model and datamodule are
made (train.py, the search's trials, tests and benchmarks all use it), plus parse errors, the run summary,
``predictions.csv`` and the progress bar. The top floor: nothing below imports it. A fork keeps it.
"""

from {{ cookiecutter.package_name }}.cli.app import LitCLI, build

__all__ = ["LitCLI", "build"]

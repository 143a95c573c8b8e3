"""The command line: ``train.py``'s LightningCLI subclass, the one build path, and what a run leaves behind.

* :mod:`~{{ cookiecutter.package_name }}.cli.app`: :class:`LitCLI` and :func:`build`, the only way a Trainer, model and
  datamodule are made (train.py, the search's trials, tests and benchmarks all use it);
* :mod:`~{{ cookiecutter.package_name }}.cli.runner`: run a stage end to end and return ``results.json``'s dict;
* :mod:`~{{ cookiecutter.package_name }}.cli.args`, :mod:`~{{ cookiecutter.package_name }}.cli.parse_errors`, :mod:`~{{ cookiecutter.package_name }}.cli.config_errors`: the raw
  command line before parsing, and one-line parse errors;
* :mod:`~{{ cookiecutter.package_name }}.cli.summary`, :mod:`~{{ cookiecutter.package_name }}.cli.predictions`, :mod:`~{{ cookiecutter.package_name }}.cli.progress`,
  :mod:`~{{ cookiecutter.package_name }}.cli.logs`: the summary table, ``predictions.csv``, the progress bar, quiet stderr.

The top floor: nothing below it imports it (only the search, whose trials are cli builds, and
``__main__``). A fork keeps it.
"""

from {{ cookiecutter.package_name }}.cli.app import LitCLI, build

__all__ = ["LitCLI", "build"]

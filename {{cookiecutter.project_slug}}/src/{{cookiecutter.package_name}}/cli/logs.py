"""Lightning's progress messages go to stdout, so stderr holds warnings and errors only.

Lightning logs facts such as "GPU available: False" at INFO level to stderr. A mistake found after the
Trainer exists would then show those lines before its one-line ``error:``; and tools that watch stderr
for problems see noise on every run.
"""

from __future__ import annotations

import logging
import sys


class _Below(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level


def lightning_info_to_stdout() -> None:
    """Send INFO records of Lightning's loggers to stdout and keep WARNING and above on stderr."""
    for name in ("pytorch_lightning", "lightning_fabric"):
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
                handler.setLevel(logging.WARNING)
        if not any(getattr(h, "{{ cookiecutter.package_name }}_stdout", False) for h in logger.handlers) and logger.handlers:
            to_stdout = logging.StreamHandler(sys.stdout)
            to_stdout.addFilter(_Below(logging.WARNING))
            to_stdout.{{ cookiecutter.package_name }}_stdout = True  # type: ignore[attr-defined]
            logger.addHandler(to_stdout)

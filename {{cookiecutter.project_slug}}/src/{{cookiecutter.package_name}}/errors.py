"""User-facing errors: one line on stderr and exit code 2, never a traceback. :class:`UserError` is raised
anywhere (tests catch it) and becomes one line by :func:`exit_on_user_error` at the command-line edge only."""

from __future__ import annotations

import contextlib
import difflib
import logging
import sys
from collections.abc import Iterable, Iterator

from lightning_utilities.core.rank_zero import rank_zero_only


class UserError(Exception):
    """A mistake in the user's input; the message names the culprit and the fix."""


@rank_zero_only
def say(message: str, level: str = "note") -> None:
    """``note: ...`` on stderr from rank 0, for what the user should know but need not fix (a fallback taken)."""
    print(f"{level}: {message}", file=sys.stderr, flush=True)


def closest(word: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``" Did you mean 'x'?"`` to append to a message, or ``""`` when nothing is close."""
    match = closest(word, candidates)
    return f" Did you mean '{match}'?" if match else ""


@contextlib.contextmanager
def exit_on_user_error(debug: bool = False) -> Iterator[None]:
    """Turn a :class:`UserError` into ``error: <message>`` on stderr and exit 2 (re-raise with ``debug``)."""
    try:
        yield
    except UserError as err:
        if debug:
            raise
        message = " ".join(str(err).split())
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2) from None


def lightning_info_to_stdout() -> None:
    """Lightning's INFO lines ("GPU available: False") go to stdout, so stderr holds warnings and errors only:
    no noise before a one-line ``error:``, nor for tools that watch stderr."""
    logging.getLogger("lightning_fabric.utilities.seed").setLevel(logging.WARNING)  # "Seed set to 42": noise
    for name in ("pytorch_lightning", "lightning_fabric"):
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
                handler.setLevel(logging.WARNING)
        if logger.handlers and not any(getattr(h, "{{ cookiecutter.package_name }}_stdout", False) for h in logger.handlers):
            to_stdout = logging.StreamHandler(sys.stdout)
            to_stdout.addFilter(lambda record: record.levelno < logging.WARNING)
            to_stdout.{{ cookiecutter.package_name }}_stdout = True  # type: ignore[attr-defined]
            logger.addHandler(to_stdout)

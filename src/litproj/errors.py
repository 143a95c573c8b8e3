"""User-facing errors: one line on stderr and exit code 2, never a traceback.

Every mistake a user can make (a bad value, a missing file, an unknown preset) is raised as
:class:`UserError` deep inside litproj and turned into a single line by :func:`exit_on_user_error`
at the command-line edge. Keeping the handler in one place means library code stays testable
(tests catch ``UserError``) and the CLI stays quiet.
"""

from __future__ import annotations

import contextlib
import difflib
import sys
from collections.abc import Iterable, Iterator

from lightning_utilities.core.rank_zero import rank_zero_only

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A mistake in the user's input; the message names the culprit and the fix."""


@rank_zero_only
def say(message: str, level: str = "note") -> None:
    """One line on stderr from rank 0 (``note: ...`` / ``warning: ...``); a live rich progress bar keeps it above.

    For what the user should know but need not fix now (a fallback taken, a loop skipped).
    """
    print(f"{level}: {message}", file=sys.stderr, flush=True)


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """Return the candidate closest to ``word`` (for "did you mean ...?" hints), if any is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A suffix such as ``" Did you mean 'x'?"``, or an empty string when nothing is close."""
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
        raise SystemExit(EXIT_USER_ERROR) from None

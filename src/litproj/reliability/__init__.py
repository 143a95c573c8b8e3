"""Runs that survive: step checkpoints with atomic writes and RNG state, the monitor fallback, ``--ckpt_path``
checks, SIGTERM saves, the NaN-loss stop, collective timeouts and the report of a dead DDP rank.

Lightning's own parts come first; each module says which gap it fills. ``cli/app.py`` applies this package
to every Trainer through :func:`harden` and :func:`guard_callbacks`.
"""

from litproj.reliability.hardening import guard_callbacks, harden

__all__ = ["guard_callbacks", "harden"]

"""Runs that survive: checkpoints every N steps with atomic writes and RNG state, the checkpoint monitor's
fallback, checks of ``--ckpt_path`` before loading, SIGTERM saves, the NaN-loss stop, collective timeouts
and the report of a DDP rank that died.

Lightning's own parts come first (``ModelCheckpoint``, ``weights_only`` loading, its launcher's watch
over the ranks); what is here fills what they lack, and each module's docstring says which gap. A fork
keeps this package; ``cli/app.py`` applies it to every Trainer through :func:`harden` and
:func:`guard_callbacks`.
"""

from {{ cookiecutter.package_name }}.reliability.hardening import guard_callbacks, harden

__all__ = ["guard_callbacks", "harden"]

"""``--print_shtab SHELL``: the tab-completion script for ``./train.py``, written by shtab from the parser itself.

Not jsonargparse's ``get_completion_script``: it expands every class argument's subclasses, and on torch 2.14 it
recursed through ``torch.Tensor`` into a 55 MB script that took a minute. So the model's and data's own options
(``--model.lr``) are not offered: they depend on the class named. jsonargparse 4.47 dropped its ``--print_shtab``;
this keeps LightningCLI's long-known flag.
"""

from __future__ import annotations

import argparse

import shtab


class PrintShtab(argparse.Action):
    """Prints the completion script for the chosen shell and exits 0 (nothing is built or written)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, **kwargs):
        kwargs.setdefault("help", "Print a tab-completion script for ./train.py (README: shell completion).")
        super().__init__(option_strings, dest=dest, default=default, choices=shtab.SUPPORTED_SHELLS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(shtab.complete(parser, values))
        parser.exit(0)

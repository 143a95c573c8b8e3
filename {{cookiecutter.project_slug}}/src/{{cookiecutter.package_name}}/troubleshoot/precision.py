"""Say plainly when the precision that trains is not the one asked for, or cannot work on this hardware."""

from __future__ import annotations

import torch

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.troubleshoot.report import RunNotes, say

#: Lightning's short spellings, so "16" and "16-mixed" compare equal.
_ALIASES = {"16": "16-mixed", "bf16": "bf16-mixed", "32": "32-true", "64": "64-true"}


def normalize(precision) -> str:
    text = str(precision) if precision is not None else "32-true"
    return _ALIASES.get(text, text)


def check_precision(requested, trainer, notes: RunNotes) -> None:
    """Compare ``--trainer.precision`` with what the trainer uses; note fallbacks, refuse bf16 where it cannot run.

    Raises:
        UserError: bf16 on a CUDA GPU without bfloat16 support (it would fail or crawl inside the first step).
    """
    asked, used = normalize(requested), normalize(trainer.precision)
    device = trainer.strategy.root_device
    if (
        used.startswith("bf16")
        and device.type == "cuda"
        and not torch.cuda.is_bf16_supported(including_emulation=False)
    ):
        raise UserError(
            f"--trainer.precision {asked}: {torch.cuda.get_device_name(device)} has no bfloat16 support; "
            "use --trainer.precision 16-mixed."
        )
    if asked != used:
        say(
            f"--trainer.precision {asked} is not available on {device.type.upper()}; training uses {used} "
            "(float16 autocast needs a CUDA GPU; bfloat16 autocast saves memory on CPUs too)."
        )
    notes.add("precision", summary=used if asked == used else f"{used} (asked {asked})", requested=asked, used=used)

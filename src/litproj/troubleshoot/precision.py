"""Say plainly when the precision that trains is not the one asked for, or cannot work on this hardware."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from litproj.errors import UserError, say

if TYPE_CHECKING:
    from litproj.troubleshoot.run import RunNotes

#: Lightning's short spellings of precisions, so "16" and "16-mixed" compare equal.
_PRECISION_ALIASES = {"16": "16-mixed", "bf16": "bf16-mixed", "32": "32-true", "64": "64-true"}


def check_precision(requested, trainer, notes: RunNotes) -> None:
    """Say when the precision that trains is not the one asked for; refuse bf16 on a GPU without it."""
    asked, used = (_PRECISION_ALIASES.get(str(p), str(p)) for p in (requested or "32-true", trainer.precision))
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

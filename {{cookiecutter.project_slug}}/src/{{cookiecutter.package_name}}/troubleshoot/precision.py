"""Say plainly when the precision that trains is not the one asked for, or cannot work on this hardware."""

from __future__ import annotations

import copy
import logging
import warnings
from typing import TYPE_CHECKING

import torch
from pytorch_lightning import Trainer
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from {{ cookiecutter.package_name }}.errors import UserError, say

if TYPE_CHECKING:
    from {{ cookiecutter.package_name }}.troubleshoot.run import RunNotes

#: Lightning's short spellings of precisions, so "16" and "16-mixed" compare equal.
_PRECISION_ALIASES = {"16": "16-mixed", "bf16": "bf16-mixed", "32": "32-true", "64": "64-true"}
#: The precisions a user picks from (configs/precision/), in the order worth trying.
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true")


def precisions_refused(strategy) -> list[str]:
    """The :data:`PRECISIONS` Lightning refuses with ``strategy`` (a name or an instance, copied for each Trainer,
    which binds it). Asked by building Trainers (cheap: nothing is launched), so the answer is Lightning's own and
    follows its upgrades; a list of our own would go stale."""
    quiet = [logging.getLogger(name) for name in ("pytorch_lightning", "lightning_fabric")]
    levels = [logger.level for logger in quiet]
    refused = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for logger in quiet:
                logger.setLevel(logging.ERROR)
            for precision in PRECISIONS:
                try:
                    Trainer(
                        strategy=copy.deepcopy(strategy), precision=precision, accelerator="cpu", devices=1,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, logger=False,
                    )  # fmt: skip
                except (ValueError, MisconfigurationException):
                    refused.append(precision)
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    return refused


def strategy_precision_error(trainer_config: dict, err: Exception) -> UserError | None:
    """Lightning's refusal of the precision for this strategy, as one line naming both and the precisions
    that work (``None`` when ``err`` is about something else)."""
    precision, strategy = trainer_config.get("precision"), trainer_config.get("strategy")
    if precision is None or "precision" not in str(err) or isinstance(strategy, str):
        return None
    works = [p for p in PRECISIONS if p not in precisions_refused(strategy)]
    return UserError(
        f"--trainer.precision {precision}: {type(strategy).__name__} does not support it (Lightning refuses the pair "
        f"before training); use one of {', '.join(works)}."
    )


def check_precision(requested, trainer, notes: RunNotes) -> None:
    """Say when the precision that trains is not the one asked for; refuse bf16 on a GPU without it."""
    asked, used = (_PRECISION_ALIASES.get(str(p), str(p)) for p in (requested or "32-true", trainer.precision))
    device = trainer.strategy.root_device
    bf16_on_cuda = used.startswith("bf16") and device.type == "cuda"
    if bf16_on_cuda and not torch.cuda.is_bf16_supported(including_emulation=False):
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

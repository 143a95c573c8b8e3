"""Check a ``--ckpt_path`` file before Lightning touches it: safe to unpickle, a checkpoint, fits the model.

Lightning finds these only after setting up the run (``config.yaml`` written, loggers opened), as tracebacks;
checking first keeps each mistake to one line and run folders untouched."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch
from pytorch_lightning import LightningModule

from {{ cookiecutter.package_name }}.errors import UserError


def load_checkpoint(path: Path, trust: bool = False) -> dict:
    """Load ``path`` on the CPU (memory-mapped where possible), refusing code-running pickles unless ``trust``."""
    try:
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=not trust, mmap=True)
        except RuntimeError as err:  # files in torch's legacy (non-zip) format cannot be memory-mapped
            if "mmap" not in str(err):
                raise
            checkpoint = torch.load(path, map_location="cpu", weights_only=not trust)
    except Exception as err:  # torch raises many types for files that are not checkpoints
        unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if not trust and unsafe and isinstance(err, pickle.UnpicklingError):
            raise UserError(
                f"--ckpt_path: refusing to load '{path}': unpickling it would call {unsafe.group(1)}, which can run "
                "code. If you trust its source, pass --trust_checkpoint true."
            ) from err
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"--ckpt_path: '{path}' is not a PyTorch checkpoint ({reason[:160]}).") from err
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise UserError(f"--ckpt_path: '{path}' is not a Lightning checkpoint (it has no 'state_dict').")
    return checkpoint


def mismatch(model: LightningModule, state_dict: dict) -> str | None:
    """How ``state_dict`` fails to fit ``model`` (missing, unexpected, other shapes), or ``None`` if it fits."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    reshaped = [
        f"{k} {list(state_dict[k].shape)} vs {list(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and hasattr(state_dict[k], "shape") and state_dict[k].shape != v.shape
    ]
    parts = [
        f"{len(found)} {label} (e.g. {', '.join(found[:2])})"
        for label, found in (("missing", missing), ("unexpected", unexpected), ("with other shapes", reshaped))
        if found
    ]
    return "; ".join(parts) or None


def verify_checkpoint(
    path: str | None, model: LightningModule, trust: bool = False, strategy: object | None = None
) -> None:
    """Raise :class:`UserError` unless ``path`` is a loadable checkpoint whose weights fit ``model``. Weights
    built (or FSDP-sharded) in ``configure_model`` are left to Lightning's strict load; model_split's are checked."""
    if path is None or Path(path).is_dir():
        return
    checkpoint = load_checkpoint(Path(path), trust)
    from {{ cookiecutter.package_name }}.strategies import FullyShardedStrategy  # here: reliability does not import strategies at import time

    builds_late = not any(True for _ in model.parameters()) or isinstance(strategy, FullyShardedStrategy)
    if not model.strict_loading or builds_late:
        return
    problem = mismatch(model, checkpoint["state_dict"])
    if problem:
        raise UserError(
            f"--ckpt_path: '{path}' was saved from a different model: weights {problem}. Use the config it was "
            "trained with (config.yaml in its run folder)."
        )

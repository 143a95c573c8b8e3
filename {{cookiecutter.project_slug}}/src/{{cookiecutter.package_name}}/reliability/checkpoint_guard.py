"""Check a ``--ckpt_path`` file before Lightning touches it: safe to unpickle, a checkpoint, fits the model.

Lightning only finds these problems after it has set up the run (written ``config.yaml``, opened
loggers), and then reports them as tracebacks. Checking first keeps every mistake to one line and
leaves existing run folders untouched. Unpickling a ``.ckpt`` can run arbitrary code, so the check loads
with ``weights_only=True`` (tensors and plain containers only) unless the user passes ``--trust_checkpoint``.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch
from pytorch_lightning import LightningModule

from {{ cookiecutter.package_name }}.errors import UserError

TRUST_HINT = "If you trust its source, pass --trust_checkpoint true."
_EXAMPLES = 2


def load_checkpoint(path: Path, trust: bool = False) -> dict:
    """Load ``path`` on the CPU (memory-mapped where possible), refusing code-running pickles unless ``trust``."""
    try:
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=not trust, mmap=True)
        except RuntimeError as err:  # files in torch's legacy (non-zip) format cannot be memory-mapped
            if "mmap" not in str(err):
                raise
            checkpoint = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as err:
        unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if not trust and unsafe:
            raise UserError(
                f"--ckpt_path: refusing to load '{path}': unpickling it would call {unsafe.group(1)}, which can run "
                f"code. {TRUST_HINT}"
            ) from err
        raise _not_a_checkpoint(path, err) from err
    except Exception as err:  # torch raises many types for files that are not checkpoints
        raise _not_a_checkpoint(path, err) from err
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise UserError(f"--ckpt_path: '{path}' is not a Lightning checkpoint (it has no 'state_dict').")
    return checkpoint


def _not_a_checkpoint(path: Path, err: BaseException) -> UserError:
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return UserError(f"--ckpt_path: '{path}' is not a PyTorch checkpoint ({reason[:160]}).")


def _builds_weights_late(model: LightningModule, strategy: object | None) -> bool:
    """Weights that do not exist yet (built in ``configure_model``) or that FSDP shards there cannot be compared
    before fit; Lightning's strict load checks them later. (model_split keeps the unsplit keys: compared.)"""
    from {{ cookiecutter.package_name }}.strategies import FullyShardedStrategy

    return not any(True for _ in model.parameters()) or isinstance(strategy, FullyShardedStrategy)


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
        f"{len(found)} {label} (e.g. {', '.join(found[:_EXAMPLES])})"
        for label, found in (("missing", missing), ("unexpected", unexpected), ("with other shapes", reshaped))
        if found
    ]
    return "; ".join(parts) or None


def verify_checkpoint(
    path: str | None, model: LightningModule, trust: bool = False, strategy: object | None = None
) -> None:
    """Raise :class:`UserError` unless ``path`` is a loadable checkpoint whose weights fit ``model``."""
    if path is None or Path(path).is_dir():
        return
    checkpoint = load_checkpoint(Path(path), trust)
    if not model.strict_loading or _builds_weights_late(model, strategy):
        return
    problem = mismatch(model, checkpoint["state_dict"])
    if problem:
        raise UserError(
            f"--ckpt_path: '{path}' was saved from a different model: weights {problem}. Use the config it was "
            "trained with (config.yaml in its run folder)."
        )

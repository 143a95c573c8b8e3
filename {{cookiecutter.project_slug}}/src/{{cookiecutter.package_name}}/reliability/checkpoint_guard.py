"""Check a ``--ckpt_path`` file before Lightning touches it: safe to unpickle, a checkpoint, fits the model.

Lightning finds these only after setting up the run (``config.yaml`` written, loggers opened), as tracebacks;
checking first keeps each mistake to one line and run folders untouched."""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path, PurePath

import torch
from pytorch_lightning import LightningModule

from {{ cookiecutter.package_name }}.errors import UserError

#: How torch's ``weights_only`` unpickler names a refused global (allowed module, or a blocked one such as posix).
UNSAFE = re.compile(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) (\S+)")


def _torch_load(path: Path, trust: bool) -> object:
    """``torch.load`` on the CPU (memory-mapped where possible), refusing code-running pickles unless ``trust``."""
    try:  # files in torch's legacy (non-zip) format cannot be memory-mapped
        return torch.load(path, map_location="cpu", weights_only=not trust, mmap=zipfile.is_zipfile(path))
    except Exception as err:  # torch raises many types for files that are not checkpoints
        unsafe = UNSAFE.search(str(err))
        if not trust and unsafe and isinstance(err, pickle.UnpicklingError):
            raise UserError(
                f"--ckpt_path: refusing to load '{path}': unpickling it would call {unsafe.group(1)}, which can run "
                "code. If you trust its source, pass --trust_checkpoint true."
            ) from err
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"--ckpt_path: '{path}' is not a PyTorch checkpoint ({reason[:160]}).") from err


def load_checkpoint(path: Path, trust: bool = False) -> dict:
    """Load ``path`` on the CPU, refusing code-running pickles unless ``trust``; it must hold a ``state_dict``."""
    checkpoint = _torch_load(path, trust)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise UserError(f"--ckpt_path: '{path}' is not a Lightning checkpoint (it has no 'state_dict').")
    return checkpoint


class _MetadataUnpickler(pickle.Unpickler):
    """Unpickles torch.distributed.checkpoint's ``.metadata`` (plain ``pickle``, which ``weights_only`` does not
    cover): its own record classes, torch sizes, dtypes and layouts, paths; any other global is refused."""

    RECORDS = ("torch.distributed.checkpoint.metadata", "torch.distributed.checkpoint.filesystem")
    OTHERS = {("torch", "Size"), ("torch.serialization", "_get_layout"), ("collections", "OrderedDict")}

    def find_class(self, module: str, name: str):
        found = super().find_class(module, name) if module.startswith(("torch", "pathlib", "collections")) else None
        allowed = (
            (module in self.RECORDS and isinstance(found, type) and found.__module__ == module)
            or (module, name) in self.OTHERS
            or (module == "torch" and isinstance(found, (torch.dtype, torch.layout, torch.memory_format)))
            or (module == "pathlib" and isinstance(found, type) and issubclass(found, PurePath))
        )
        if not allowed:
            raise pickle.UnpicklingError(f"Unsupported global: GLOBAL {module}.{name}")
        return found


def verify_sharded(folder: Path, trust: bool = False) -> None:
    """Refuse a sharded (FSDP) checkpoint folder that is not one, or whose pickles would run code unless ``trust``:
    torch's reader unpickles ``.metadata`` with plain ``pickle``; Lightning's ``meta.pt`` is checked like a file."""
    index, meta = folder / ".metadata", folder / "meta.pt"  # torch's index of the shards; Lightning's loop state
    if not index.is_file() or not meta.is_file():
        raise UserError(
            f"--ckpt_path: folder '{folder}' is not a sharded checkpoint (it needs .metadata and meta.pt); "
            "pass a checkpoint file or a last.ckpt folder saved by --strategy fsdp."
        )
    if trust:
        return
    try:
        with index.open("rb") as handle:
            _MetadataUnpickler(handle).load()
    except Exception as err:
        unsafe = UNSAFE.search(str(err))
        if unsafe:
            raise UserError(
                f"--ckpt_path: refusing to load '{folder}': unpickling its .metadata would call {unsafe.group(1)}, "
                "which can run code. If you trust its source, pass --trust_checkpoint true."
            ) from err
        raise UserError(f"--ckpt_path: '{index}' is not a sharded checkpoint index ({str(err)[:160]}).") from err
    _torch_load(meta, trust)


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
    if path is None:
        return
    if Path(path).is_dir():  # sharded: weights are checked by Lightning's strict load into the sharded model
        return verify_sharded(Path(path), trust)
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

"""Loading weights from a local file into a network: a state_dict, a safetensors file or a Lightning checkpoint.

A file rarely matches the new network key for key: checkpoints prefix the keys (``net.``, ``model.``), the head
was trained for other classes, the stem for other channels. Those three are handled; anything else that does not
fit is one error naming the layers, before any training.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from {{ cookiecutter.package_name }}.errors import UserError, say
from {{ cookiecutter.package_name }}.nets.layers import fold_channels, head_name, stem_name


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors in ``path``: a plain state_dict, a ``.safetensors`` file or a checkpoint's ``state_dict``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"--model.weights: no file at '{path}'.")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file  # comes with timm; plain torch files need nothing extra

        return load_file(str(path))
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise UserError(f"--model.weights: cannot read '{path}' as weights ({first_line(err)}).") from err
    for key in ("state_dict", "model", "model_state_dict"):  # Lightning, timm/DeiT-style and common training scripts
        if isinstance(content, dict) and isinstance(content.get(key), dict):
            content = content[key]
            break
    tensors = {k: v for k, v in content.items() if isinstance(v, torch.Tensor)} if isinstance(content, dict) else {}
    if not tensors:
        raise UserError(f"--model.weights: '{path}' holds no tensors (expected a state_dict or a checkpoint).")
    return tensors


def strip_prefix(state: dict[str, torch.Tensor], keys: list[str]) -> dict[str, torch.Tensor]:
    """``state`` without the prefix (``net.``, ``model.backbone.``, ``_orig_mod.``...) that best matches ``keys``."""
    anchor = keys[0]
    prefixes = {k[: -len(anchor)] for k in state if k == anchor or k.endswith("." + anchor)}
    best = max(prefixes, key=lambda p: sum(p + k in state for k in keys), default="")
    return {k[len(best) :]: v for k, v in state.items() if k.startswith(best)}


def load_into(net: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy ``state`` into ``net``: the head is kept fresh when its class count differs, the stem is folded onto
    the network's channel count, and any other layer that is missing or has another shape is a :class:`UserError`."""
    own = net.state_dict()
    state = strip_prefix(state, list(own))
    head, stem = head_name(net) + ".", f"{stem_name(net)}.weight"
    fitted, fresh_head, wrong = {}, False, []
    for key, target in own.items():
        value = state.get(key)
        if value is None:
            continue
        if value.shape == target.shape:
            fitted[key] = value
        elif key.startswith(head):
            fresh_head = True
        elif (
            key == stem
            and value.dim() == 4
            and value.shape[0] == target.shape[0]
            and value.shape[2:] == target.shape[2:]
        ):
            fitted[key] = fold_channels(value, target.shape[1])
        else:
            wrong.append(f"{key} {list(value.shape)} in the file vs {list(target.shape)}")
    # Old files predate BatchNorm's step counter, which only matters for momentum=None.
    missing = [k for k in own if k not in state and not k.startswith(head) and not k.endswith("num_batches_tracked")]
    if wrong or missing:
        parts = []
        if wrong:
            parts.append(f"{len(wrong)} layers with other shapes ({'; '.join(wrong[:3])}{'; ...' * (len(wrong) > 3)})")
        if missing:
            parts.append(f"{len(missing)} layers missing from the file (e.g. {', '.join(missing[:3])})")
        raise UserError(
            f"--model.weights: {source} does not fit this backbone: {', '.join(parts)}. Pass weights saved from the "
            "same architecture (--model.backbone as when they were trained)."
        )
    net.load_state_dict(fitted, strict=False)
    if fresh_head:
        say(f"{source}: the classifier head was trained for another number of classes; it starts fresh.")


def first_line(err: BaseException) -> str:
    """The first line of an exception's message, for a one-line error that says why."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__

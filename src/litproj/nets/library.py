"""Backbones from torchvision and timm by name: ``torchvision:resnet50``, ``timm:convnext_tiny``.

Each library builds the network; litproj fits its two ends to the data and makes pretrained weights that are
neither cached nor downloadable fail in one line. timm is an optional extra (``pip install -e ".[timm]"``). A
pretrained network carries ``input_spec`` (:func:`weights_input_spec`), which the CLI gives the data unless the
user set those values (:mod:`litproj.cli.input_spec`).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from litproj.errors import UserError, did_you_mean
from litproj.nets.layers import new_head, new_stem
from litproj.nets.weights import first_line

OFFLINE_FIX = "copy it there from a machine that is online, or pass a local file with --model.weights PATH"


def build_library_net(spec: str, in_channels: int, num_classes: int, pretrained: bool) -> nn.Module:
    """The network named ``family:name``, with the library's pretrained weights when ``pretrained``."""
    family, _, name = spec.partition(":")
    builders = {"torchvision": torchvision_net, "timm": timm_net}
    if family not in builders or not name:
        raise UserError(f"--model.backbone: '{spec}' is not 'torchvision:NAME' or 'timm:NAME'.")
    return builders[family](name, in_channels, num_classes, pretrained)


def weights_input_spec(spec: str) -> dict | None:
    """``{"image_size", "mean", "std"}`` the library's default weights for ``spec`` were trained with, from their
    metadata alone (nothing is downloaded, so the data can be configured before the network is built); ``None``
    for a name the library does not know (building the network says so) or when timm is missing."""
    family, _, name = spec.partition(":")
    if family == "torchvision":
        from torchvision import models

        try:
            preset = models.get_model_weights(name).DEFAULT.transforms()
        except ValueError:  # not a torchvision model
            return None
        return {"image_size": preset.crop_size[0], "mean": list(preset.mean), "std": list(preset.std)}
    if family == "timm":
        try:
            import timm
        except ImportError:
            return None
        cfg = timm.get_pretrained_cfg(name)
        if cfg is None:
            return None
        data = timm.data.resolve_data_config(pretrained_cfg=cfg.to_dict())
        return {"image_size": data["input_size"][-1], "mean": list(data["mean"]), "std": list(data["std"])}
    return None


def torchvision_net(name: str, in_channels: int, num_classes: int, pretrained: bool) -> nn.Module:
    from torchvision import models

    available = models.list_models(module=models)  # classification models only
    if name not in available:
        raise UserError(
            f"--model.backbone: torchvision has no classification model '{name}'.{did_you_mean(name, available)} "
            "torchvision.models.list_models() lists them."
        )
    if not pretrained:
        net = models.get_model(name, weights=None, num_classes=num_classes)
    else:
        weights = models.get_model_weights(name).DEFAULT
        path = Path(torch.hub.get_dir(), "checkpoints", Path(urlparse(weights.url).path).name)  # where torch.hub caches
        try:  # the library's own download (hash checked) and loading (a few models remap keys)
            net = models.get_model(name, weights=weights, progress=False)
        except (OSError, RuntimeError) as err:  # URLError is an OSError; a hash mismatch a RuntimeError
            if path.is_file():
                raise
            raise UserError(
                f"--model.pretrained: the torchvision:{name} weights are not in the cache ({path}) and could not be "
                f"downloaded ({first_line(err)}); {OFFLINE_FIX}."
            ) from err
        new_head(net, num_classes)
        net.input_spec = weights_input_spec(f"torchvision:{name}")
    new_stem(net, in_channels)
    if getattr(net, "aux_logits", False):  # Inception/GoogLeNet return auxiliary logits while training
        net.aux_logits = False
        for aux in ("AuxLogits", "aux1", "aux2"):
            if hasattr(net, aux):
                setattr(net, aux, None)
    return net


def timm_net(name: str, in_channels: int, num_classes: int, pretrained: bool) -> nn.Module:
    try:
        import timm
    except ImportError as err:
        raise UserError(
            f"--model.backbone timm:{name} needs timm: pip install -e '.[timm]' (or pip install timm)."
        ) from err
    if not timm.is_model(name):
        raise UserError(
            f"--model.backbone: timm has no model '{name}'.{did_you_mean(name, timm.list_models())} "
            "timm.list_models('pattern*') lists them."
        )
    try:
        net = timm.create_model(name, pretrained=pretrained, num_classes=num_classes, in_chans=in_channels)
    except OSError as err:  # the hub is unreachable and the cache lacks the file (LocalEntryNotFoundError et al.)
        if not pretrained:
            raise
        from huggingface_hub.constants import HF_HUB_CACHE

        cfg = timm.get_pretrained_cfg(name)
        where = f"{cfg.hf_hub_id} on the Hugging Face hub" if cfg and cfg.hf_hub_id else (cfg and cfg.url)
        raise UserError(
            f"--model.pretrained: the timm:{name} weights ({where}) are not in the cache ({HF_HUB_CACHE}) and "
            f"could not be downloaded ({first_line(err)}); {OFFLINE_FIX}."
        ) from err
    if pretrained:
        net.input_spec = weights_input_spec(f"timm:{name}")
    return net

"""The data follows the pretrained weights: the image size, mean and std the library's weights were trained with
(:func:`{{ cookiecutter.package_name }}.nets.library.weights_input_spec`) replace the defaults of the DataModule's ``image_size``/``mean``/
``std``; a value the user set (flag, config file, or a checkpoint's saved config) wins, and one note says which.

Not ``parser.link_arguments``: a link always overwrites, and the parsed config cannot tell a default from a typed
value; the command line and config files can. On the config, before anything is built: the image size reaches the
model's ``example_input_array`` (which export traces) through the instantiation link, a DataModule may build its
transforms in ``__init__``, and the saved config.yaml then holds the values used, so resume, test, predict and
export rebuild the same pipeline.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from jsonargparse import Namespace

from {{ cookiecutter.package_name }}.cli.args import flag_values
from {{ cookiecutter.package_name }}.nets.library import weights_input_spec

#: The DataModule settings that follow the weights (when its class has them).
KEYS = ("image_size", "mean", "std")


def _load(value: str) -> object:
    """A config file's content, or a ``--data '{...}'`` value parsed; ``None`` if neither reads."""
    try:
        path = Path(value)
        text = path.read_text(encoding="utf-8") if path.is_file() else value
        return yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None  # the parser reports unreadable files in one line


def _names(data: object, key: str) -> bool:
    """Whether a ``data`` section (``{class_path, init_args}`` or its init args alone) sets ``key``."""
    if not isinstance(data, dict):
        return False
    init_args = data.get("init_args")
    return key in data or (isinstance(init_args, dict) and key in init_args)


def set_by(args: list[str], default_configs: list[str], key: str) -> str | None:
    """Where the user set the data's ``key``: a flag, a ``--data`` value, or the last config file naming it."""
    for flag in (f"--data.{key}", f"--data.init_args.{key}"):
        if flag_values(args, flag):
            return flag
    if any(_names(_load(value), key) for value in flag_values(args, "--data")):
        return "--data"
    for path in reversed([*default_configs, *flag_values(args, "--config", "-c")]):
        content = _load(path)
        if isinstance(content, dict) and _names(content.get("data"), key):
            return path
    return None


def follow_weights(config: Namespace, args: list[str], default_configs: list[str]) -> str | None:
    """Give the data's unset ``image_size``/``mean``/``std`` in ``config`` the pretrained weights' values; the note
    to print once built (``None`` without library weights): what was taken and kept, or what the weights expect."""
    model = config.get("model.init_args")
    backbone = model.get("backbone") if isinstance(model, Namespace) else None
    if not isinstance(backbone, str) or model.get("pretrained") is not True:
        return None
    if (spec := weights_input_spec(backbone)) is None:
        return None
    data = config.get("data.init_args")
    settings = [key for key in KEYS if isinstance(data, Namespace) and key in data]
    if not settings:
        name = str(config.get("data.class_path", "the DataModule")).rsplit(".", 1)[-1]
        return (
            f"{backbone} weights were trained on {spec['image_size']}px images normalised with mean {spec['mean']} "
            f"and std {spec['std']}; {name} has no image_size/mean/std settings to follow them: feed it the same."
        )
    taken, kept = [], []
    for key in settings:
        source = set_by(args, default_configs, key)
        if source is None:
            data[key] = spec[key]
            taken.append(f"{key} {spec[key]}")
        else:
            differs = "" if data[key] == spec[key] else f", the weights': {spec[key]}"
            kept.append(f"{key} {data[key]} (set by {source}{differs})")
    parts = [f"took {', '.join(taken)} from them"] if taken else []
    parts += [f"kept {', '.join(kept)}"] if kept else []
    return f"the data follows the {backbone} weights: {'; '.join(parts)}."

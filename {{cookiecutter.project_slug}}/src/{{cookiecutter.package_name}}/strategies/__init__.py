"""Strategy presets: YAML files in ``configs/strategy/`` selected with ``--strategy NAME``."""

from {{ cookiecutter.package_name }}.strategies.presets import list_presets, preset_path

__all__ = ["list_presets", "preset_path"]

"""Strategy presets by name: ``configs/strategy/NAME.yaml``, described by its first comment line."""

from __future__ import annotations

from pathlib import Path

from {{ cookiecutter.package_name }}.errors import UserError, did_you_mean
from {{ cookiecutter.package_name }}.rundir import config_dir


def list_presets() -> dict[str, str]:
    """Preset name -> its first ``# ...`` line (what it does and what it needs)."""
    presets = {}
    for path in sorted((config_dir() / "strategy").glob("*.yaml")):
        comments = [
            line.lstrip("# ").strip() for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")
        ]
        presets[path.stem] = comments[0] if comments else ""
    return presets


def preset_path(name: str) -> Path:
    path = config_dir() / "strategy" / f"{name}.yaml"
    if not path.is_file():
        names = sorted(list_presets())
        raise UserError(
            f"--strategy: unknown preset '{name}'.{did_you_mean(name, names)} Valid presets: {', '.join(names)}."
        )
    return path

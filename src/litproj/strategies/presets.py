"""Look up strategy presets by name; each YAML file's first comment line is its description."""

from __future__ import annotations

from pathlib import Path

from litproj.errors import UserError, did_you_mean
from litproj.rundir import config_dir


def _folder() -> Path:
    return config_dir() / "strategy"


def describe(path: Path) -> str:
    """The preset's first comment line (``# ...``), which says what it does and what it needs."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def list_presets() -> dict[str, str]:
    """Preset name -> one-line description, for every ``configs/strategy/*.yaml``."""
    return {p.stem: describe(p) for p in sorted(_folder().glob("*.yaml"))}


def preset_path(name: str) -> Path:
    """The YAML file of preset ``name``; an unknown name fails listing the valid ones."""
    path = _folder() / f"{name}.yaml"
    if not path.is_file():
        names = sorted(list_presets())
        raise UserError(
            f"--strategy: unknown preset '{name}'.{did_you_mean(name, names)} Valid presets: {', '.join(names)}."
        )
    return path

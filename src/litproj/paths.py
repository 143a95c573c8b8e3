"""Where litproj finds its configs: the repository's ``configs/`` (or ``$LITPROJ_CONFIG_DIR``)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def config_dir() -> Path:
    """The configs folder: ``$LITPROJ_CONFIG_DIR``, the repository's ``configs/``, or ``./configs``."""
    if "LITPROJ_CONFIG_DIR" in os.environ:
        return Path(os.environ["LITPROJ_CONFIG_DIR"])
    repo_configs = REPO_ROOT / "configs"
    return repo_configs if repo_configs.is_dir() else Path.cwd() / "configs"


def default_config() -> Path:
    return config_dir() / "default.yaml"

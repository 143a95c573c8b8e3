"""Where {{ cookiecutter.package_name }} finds its configs: the repository's ``configs/`` (or ``${{ cookiecutter.package_name | upper }}_CONFIG_DIR``)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def config_dir() -> Path:
    """The configs folder: ``${{ cookiecutter.package_name | upper }}_CONFIG_DIR``, the repository's ``configs/``, or ``./configs``."""
    if "{{ cookiecutter.package_name | upper }}_CONFIG_DIR" in os.environ:
        return Path(os.environ["{{ cookiecutter.package_name | upper }}_CONFIG_DIR"])
    repo_configs = REPO_ROOT / "configs"
    return repo_configs if repo_configs.is_dir() else Path.cwd() / "configs"


def default_config() -> Path:
    return config_dir() / "default.yaml"

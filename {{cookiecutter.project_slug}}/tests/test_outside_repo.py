"""Runs started away from the checkout (another folder, an installed copy, a Ray worker on another node) use the
project's ``configs/default.yaml`` or stop with one line; they never train with Lightning's defaults (1000 epochs)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT


def _installed_copy(tmp_path: Path) -> tuple[Path, Path]:
    """{{ cookiecutter.package_name }} copied as ``pip install .`` (not editable) would place it, and an empty folder to start from."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "src" / "{{ cookiecutter.package_name }}", site / "{{ cookiecutter.package_name }}", ignore=shutil.ignore_patterns("__pycache__"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return site, elsewhere


def _run_installed(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    site, elsewhere = _installed_copy(tmp_path)
    environment = {k: v for k, v in os.environ.items() if k not in ("{{ cookiecutter.package_name | upper }}_CONFIG_DIR", "PYTHONPATH")}
    environment.update(PYTHONPATH=str(site), **env)
    command = [sys.executable, "-c", "from {{ cookiecutter.package_name }}.cli.runner import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=elsewhere, env=environment, timeout=120)


def test_installed_copy_without_configs_stops_with_one_line(tmp_path):
    done = _run_installed(tmp_path, "--print_config")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "default.yaml" in lines[0] and str(tmp_path / "elsewhere" / "configs") in lines[0]
    assert "{{ cookiecutter.package_name | upper }}_CONFIG_DIR=" in lines[0]  # says how to fix it
    assert "max_epochs" not in done.stdout  # no config with Lightning's defaults was printed


@pytest.mark.slow
def test_installed_copy_reads_the_config_folder_named_by_the_environment(tmp_path):
    done = _run_installed(tmp_path, "--print_config", {{ cookiecutter.package_name | upper }}_CONFIG_DIR=str(ROOT / "configs"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "max_epochs: 12" in done.stdout  # configs/default.yaml, not Lightning's 1000


# >>> part:tune
def test_joining_a_ray_cluster_ships_the_project_to_its_workers(monkeypatch):
    import ray

    from {{ cookiecutter.package_name }}.tune.runner import ray_session

    calls: list[dict] = []

    def fake_init(**kwargs):
        calls.append(kwargs)
        raise RuntimeError("no cluster in tests")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fake_init)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for address in ("ray://head:10001", None):
        with pytest.raises(RuntimeError), ray_session(address):
            pass
    joined, local = calls
    env = joined["runtime_env"]
    assert Path(env["working_dir"]) == ROOT  # configs/, train.py and the user's modules travel with the trials
    assert (Path(env["working_dir"]) / "configs" / "default.yaml").is_file()
    assert [Path(p) for p in env["py_modules"]] == [ROOT / "src" / "{{ cookiecutter.package_name }}"]
    assert "runs/" in env["excludes"]
    assert local["runtime_env"] is None  # a local session shares this filesystem: nothing to upload
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    with pytest.raises(RuntimeError), ray_session(None):
        pass
    assert calls[-1]["runtime_env"]["working_dir"] == str(ROOT)


# <<< part:tune

"""Fixtures shared across the suite: one trained default run that several tests inspect."""

from __future__ import annotations

import pytest

from tests.helpers import train


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> dict:
    """``python train.py`` with its defaults (digits, small CNN), trained once per session."""
    return train(tmp_path_factory.mktemp("default"))


@pytest.fixture(autouse=True)
def _no_inherited_run_folder(monkeypatch):
    """A test that calls ``build()`` directly leaves ``LITPROJ_RUN_DIR`` set, which later runs would take as
    a run folder chosen by a launcher (torchrun ranks inherit it): each test starts without it."""
    monkeypatch.delenv("LITPROJ_RUN_DIR", raising=False)


# >>> part:tune


@pytest.fixture(scope="module")
def ray_session():
    """One Ray start for the searches in a test module; tune.py joins it."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


# <<< part:tune

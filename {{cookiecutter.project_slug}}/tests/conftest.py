"""Fixtures shared across the suite: one trained default run that several tests inspect."""

from __future__ import annotations

import pytest

from tests.helpers import train


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> dict:
    """``python train.py`` with its defaults (digits, small CNN), trained once per session."""
    return train(tmp_path_factory.mktemp("default"))

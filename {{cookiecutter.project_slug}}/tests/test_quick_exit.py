"""train.py's command line leaves Python without shutdown's garbage-collector passes ({{ cookiecutter.package_name }}.cli.quick_exit);
a test or tool calling ``main`` with an argument list keeps its collector as it was."""

from __future__ import annotations

import gc
import sys

import pytest

from {{ cookiecutter.package_name }}.cli.runner import main


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # whatever the test froze goes back to the collector of this pytest process


def test_the_command_line_freezes_the_collector_after_its_work(unfrozen, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["train.py", "--strategy", "list"])
    main()
    assert "ddp" in capsys.readouterr().out  # the command ran
    assert gc.get_freeze_count() > 0


def test_an_in_process_call_leaves_the_collector_alone(unfrozen, capsys):
    main(["--strategy", "list"])
    assert "ddp" in capsys.readouterr().out
    assert gc.get_freeze_count() == 0

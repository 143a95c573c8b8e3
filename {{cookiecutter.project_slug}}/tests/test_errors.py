"""User mistakes cost one line on stderr and exit code 2 (the foundation's three acceptance cases)."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }}.cli.runner import main
from tests.helpers import ROOT, train_subprocess

CASES = {
    "batch size 0": (["--data.batch_size", "0"], "--data.batch_size"),
    "typo in a key": (["--trainer.max_epohcs", "1"], "Did you mean '--trainer.max_epochs'?"),
    "missing data folder": (
        ["--config", "configs/data/image_folder.yaml", "--data.data_dir", "/nonexistent"],
        "folder '/nonexistent' does not exist",
    ),
    "unknown model option": (["--model.lrr", "0.1"], "Did you mean 'lr'?"),
    "unknown backbone": (["--model.backbone", "resnet81"], "Did you mean 'resnet18'?"),
    "missing config file": (["--config", "nope.yaml"], "--config: File does not exist"),
    "unknown strategy": (["--strategy", "nonsense"], "Valid presets:"),
}


@pytest.mark.parametrize("args, expected", CASES.values(), ids=CASES.keys())
def test_user_error_is_one_line_and_exit_2(args, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # configs/... paths are relative to the repository, as in the README
    with pytest.raises(SystemExit) as exit_info:
        main(["--runs_dir", str(tmp_path / "runs"), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    assert expected in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.ckpt"))


def test_debug_shows_the_traceback(tmp_path):
    from {{ cookiecutter.package_name }}.errors import UserError

    with pytest.raises(UserError):
        main(["--runs_dir", str(tmp_path), "--data.batch_size", "0", "--debug"])


def test_command_line_error_through_a_real_process(tmp_path):
    done = train_subprocess(tmp_path, "--trainer.max_epohcs", "1")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: unknown option --trainer.max_epohcs. Did you mean '--trainer.max_epochs'? See python train.py --help."
    ]
    assert done.stdout == ""

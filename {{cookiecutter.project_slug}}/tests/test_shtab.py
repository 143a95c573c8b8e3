"""``train.py --print_shtab SHELL`` prints a completion script that completes {{ cookiecutter.package_name }}'s and the Trainer's options."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from {{ cookiecutter.package_name }}.cli.runner import run


def _script(shell: str, capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run([*args, "--print_shtab", shell])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_print_shtab_prints_a_script_with_the_options(shell, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script = _script(shell, capsys, "fit")  # {{ cookiecutter.package_name }}'s subcommand handling leaves the flag to the parser
    for option in ("--trainer.max_epochs", "--checkpoint.monitor", "--ckpt_path", "--strategy"):
        assert option in script
    assert len(script) < 200_000  # a script a shell loads in an instant
    assert not list(tmp_path.iterdir())  # nothing built, no run folder


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_a_trainer_option(capsys, tmp_path):
    script = _script("bash", capsys)
    function, command = re.search(r"complete .*-F (\S+) (\S+)\s*$", script).groups()
    (tmp_path / "completion.bash").write_text(script, encoding="utf-8")
    probe = f"""
source completion.bash
COMP_WORDS=(./{command} --trainer.max_ep); COMP_CWORD=1
{function} ./{command} --trainer.max_ep ./{command}
echo "${{ '{' }}{COMPREPLY[@]}}"
"""
    done = subprocess.run(["bash", "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["--trainer.max_epochs"], done.stderr

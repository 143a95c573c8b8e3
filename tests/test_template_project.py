"""Generated projects as users get them: through cruft (and its updates), and installed with passing tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.test_template import OFF, RENAMED, ROOT, cookiecutter_config, render, tree

GIT = ["git", "-c", "user.name=template test", "-c", "user.email=test@example.org", "-c", "init.defaultBranch=main"]


def template_repo(folder: Path) -> Path:
    """A git repository holding the template as this working tree has it (cruft clones templates with git)."""
    folder.mkdir(parents=True)
    for name in ("cookiecutter.json", "hooks", "templates", "{{cookiecutter.project_slug}}"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, folder / name)
    subprocess.run([*GIT, "init", "-q"], cwd=folder, check=True)
    commit(folder, "template")
    return folder


def commit(repo: Path, message: str) -> None:
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", message], cwd=repo, check=True)


def test_cruft_create_check_and_update(tmp_path):
    import cruft

    repo = template_repo(tmp_path / "template")
    config = Path(cookiecutter_config(tmp_path / "home"))
    project = cruft.create(str(repo), output_dir=tmp_path / "cruft", config_file=config)
    plain = render(tmp_path / "plain", template=repo)
    created = tree(project)
    cruft_state = json.loads(created.pop(".cruft.json")[0])
    assert created == tree(plain)
    assert cruft_state["template"] == str(repo) and cruft_state["context"]["cookiecutter"]["package_name"] == "litproj"
    assert cruft.check(project)

    readme = repo / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nA later template change.\n", encoding="utf-8")
    commit(repo, "template change")
    assert not cruft.check(project)
    assert cruft.update(project, skip_apply_ask=True)
    assert (project / "README.md").read_text(encoding="utf-8").endswith("\nA later template change.\n")
    assert cruft.check(project)


def isolated_venv(folder: Path) -> Path:
    """A fresh venv that sees this venv's packages (torch, ...) without their .pth files, so that nothing of
    this checkout (its editable install) leaks in, and a generated project installs into it in seconds."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    shared = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "_shared_site_packages.pth").write_text("\n".join(sorted(shared)) + "\n", encoding="utf-8")
    return python


@pytest.mark.slow
def test_generated_project_installs_and_passes_its_own_tests(tmp_path):
    """Renamed, with every part switched off: the README's commands work (CI bakes the other answers)."""
    answers = {**RENAMED, **OFF}
    project = render(tmp_path / "out", **answers)
    python = isolated_venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def run(*command: str | Path, timeout: float = 900) -> str:
        result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout

    install = [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-build-isolation"]
    run(*install, "-e", ".")
    where = run(python, "-c", "import mask_clf; print(mask_clf.__file__)")
    assert Path(where.strip()).is_relative_to(project)
    stdout = run(python, "train.py")  # the README's command
    results = json.loads(
        Path(project, stdout.strip().splitlines()[-1].removeprefix("results: ")).read_text(encoding="utf-8")
    )
    assert results["metrics"]["test/acc"] >= 0.97
    run(python, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider", timeout=1800)

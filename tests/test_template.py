"""The cookiecutter template renders this very repository, under any name, with parts switched off.

Renders go through cookiecutter's plain API into ``tmp_path``. The generated projects' own test suites
run in tests/test_template_project.py (slow).
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
BUILD = [sys.executable, str(ROOT / "tools" / "build_template.py")]
PARTS = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))["_parts"]
RENAMED = {"project_name": "Mask Classifier", "package_name": "mask_clf"}
OFF = {"include_tune": "no", "include_github_actions": "no", "license": "none"}


def cookiecutter_config(folder: Path) -> str:
    """A config that keeps cookiecutter's replay files and clones in ``folder``, out of the home folder."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yaml"
    config.write_text(f"cookiecutters_dir: {folder / 'templates'}\nreplay_dir: {folder / 'replay'}\n", encoding="utf-8")
    return str(config)


def render(out: Path, template: Path = ROOT, **answers: str) -> Path:
    """``cookiecutter TEMPLATE --no-input -o OUT KEY=VALUE...``; returns the new project's folder."""
    config = cookiecutter_config(out.with_name(out.name + "-cookiecutter"))
    path = cookiecutter(str(template), no_input=True, output_dir=str(out), extra_context=answers, config_file=config)
    return Path(path)


def extras(pyproject: str) -> set[str]:
    """The optional-dependency names a pyproject.toml declares."""
    section = pyproject.split("[project.optional-dependencies]\n", 1)[1].split("\n[", 1)[0]
    return set(re.findall(r"^([\w-]+) = \[", section, re.MULTILINE))


def state(file: Path) -> tuple[bytes, int]:
    return file.read_bytes(), stat.S_IMODE(file.stat().st_mode)


#: Files the template carries as bytes (figures in docs/img).
BINARY = (".png",)


def tree(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Relative path -> (content, permission bits) of every file below ``folder``."""
    return {p.relative_to(folder).as_posix(): state(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def exported() -> dict[str, tuple[bytes, int]]:
    """The root files the template is built from, as the build script lists them."""
    listed = subprocess.run([*BUILD, "--list"], capture_output=True, text=True, check=True).stdout.splitlines()
    return {path: state(ROOT / path) for path in listed}


def test_template_folder_is_up_to_date():
    result = subprocess.run([*BUILD, "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_default_render_equals_root(tmp_path, exported):
    project = render(tmp_path / "out")
    assert project.name == "litproj"
    rendered = tree(project)
    assert sorted(rendered) == sorted(exported)
    assert [p for p in exported if rendered[p][0] != exported[p][0]] == []
    assert [p for p in exported if rendered[p][1] != exported[p][1]] == []
    assert rendered[".ci/run"][1] & stat.S_IXUSR  # the executable bit survives


def test_renamed_render_leaves_no_template_names(tmp_path, exported):
    project = render(tmp_path / "out", **RENAMED)
    assert project.name == "mask-classifier"
    rendered = tree(project)
    assert sorted(rendered) == sorted(p.replace("src/litproj/", "src/mask_clf/") for p in exported)
    for path, (content, _) in rendered.items():
        if path.endswith(BINARY):  # copied as they are (cookiecutter renders text files only)
            assert content == exported[path][0], path
            continue
        text = content.decode()
        assert "litproj" not in path.lower() and "litproj" not in text.lower(), path
        root_text = exported[path.replace("src/mask_clf/", "src/litproj/")][0].decode()
        for jinja in ("{{", "{%", "{#"):  # only what the root itself spells (GitHub's ${{ ... }})
            assert text.count(jinja) == root_text.count(jinja), (path, jinja)
    pyproject = rendered["pyproject.toml"][0].decode()
    for line in ('name = "mask-classifier"', 'mask-classifier = "mask_clf.__main__:main"', '"mask-classifier[tune]",'):
        assert f"\n{line}\n" in pyproject or f"\n    {line}\n" in pyproject, line
    assert '\nauthors = [{ name = "Mask Classifier developers" }]\n' in pyproject
    assert rendered["README.md"][0].decode().startswith("# Mask Classifier\n")
    assert '"model": "mask_clf.module.ImageClassifier"' in rendered["src/mask_clf/cli/args.py"][0].decode()
    assert '"MASK_CLF_CONFIG_DIR"' in rendered["src/mask_clf/rundir.py"][0].decode()


def test_switched_off_parts_leave_a_coherent_project(tmp_path, exported):
    project = render(tmp_path / "out", **OFF)
    rendered = tree(project)
    texts = {path: content.decode() for path, (content, _) in rendered.items() if not path.endswith(BINARY)}
    removed = [p for p in exported if p not in rendered]
    for part in PARTS.values():
        for pattern in part["paths"]:
            assert not list(project.glob(pattern.format(package_name="litproj"))), pattern
    assert "LICENSE" in removed
    assert not any(re.search(r"(>>>|<<<) part:", text) for text in texts.values())
    # Nothing left points at what was removed: a path, a module, an extra (pip install ".[tune]"), a workflow.
    mentions = [p for p in removed if p != "LICENSE"]
    mentions += [p[4:-3].replace("/", ".").removesuffix(".__init__") for p in removed if p.startswith("src/")]
    gone = extras(exported["pyproject.toml"][0].decode()) - extras(texts["pyproject.toml"])
    assert "tune" in gone
    mentions += [f"[{extra}]" for extra in gone] + [".github/"]
    for path, text in texts.items():
        assert [m for m in mentions if m in text] == [], path
    assert not re.search(r"^license = ", texts["pyproject.toml"], re.MULTILINE)


@pytest.mark.parametrize(
    ("license", "first_line"), [("Apache-2.0", "Apache License"), ("BSD-3-Clause", "BSD 3-Clause License")]
)
def test_license_choice(tmp_path, license, first_line):
    project = render(tmp_path / "out", license=license, author="Ada Lovelace", email="ada@example.org")
    text = (project / "LICENSE").read_text(encoding="utf-8")
    assert text.strip().splitlines()[0].strip() == first_line
    assert ("Copyright (c) Ada Lovelace" in text) == (license == "BSD-3-Clause")
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    assert f'\nlicense = {{ text = "{license}" }}\n' in pyproject
    assert '\nauthors = [{ name = "Ada Lovelace", email = "ada@example.org" }]\n' in pyproject


def test_bad_package_name_on_the_command_line(tmp_path):
    out, config = tmp_path / "out", cookiecutter_config(tmp_path / "home")
    command = [sys.executable, "-m", "cookiecutter", str(ROOT), "--no-input", "-o", str(out)]
    command += ["--config-file", config, "package_name=1bad"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "error: package_name '1bad' is not a valid Python identifier; use letters, digits and _, e.g. mask_clf"
    )
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"package_name": "class"}, "package_name 'class' is not a valid Python identifier"),
        ({"package_name": "torch"}, "package_name 'torch' would shadow the 'torch' module"),
        ({"package_name": "json"}, "package_name 'json' would shadow the 'json' module"),
        ({"project_slug": "-bad-"}, "project_slug '-bad-' is not a valid folder/distribution name"),
        ({"python_version": "3.8"}, "python_version '3.8' is not supported; use 3.10 or newer"),
    ],
)
def test_bad_answers_fail_cleanly(tmp_path, capfd, answers, message):
    out = tmp_path / "out"
    with pytest.raises(FailedHookException):
        render(out, **answers)
    assert f"error: {message}" in capfd.readouterr().err
    assert not out.exists() or [p for p in out.rglob("*") if p.is_file()] == []

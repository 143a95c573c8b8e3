"""The repository habits work where hook repositories cannot be cloned: local hooks, mypy, docs index."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT

GUIDES = [
    "own_project.md",
    "models.md",
    "finetuning.md",
    "strategies.md",
    "tuning.md",
    "troubleshooting.md",
    "benchmarks.md",
    "errors.md",
]


def test_pre_commit_hooks_are_local_and_their_tools_installed():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert {repo["repo"] for repo in config["repos"]} == {"local"}  # nothing to clone
    assert {"ruff-check", "ruff-format", "codespell", "check-yaml", "check-toml", "end-of-file-fixer"} <= {
        hook["id"] for hook in hooks
    }
    scripts = Path(sys.executable).parent
    for hook in hooks:
        tool = shlex.split(hook["entry"])[0]
        assert hook["language"] == "system"
        assert (scripts / tool).exists() or shutil.which(tool), f"{hook['id']}: '{tool}' is not installed"


@pytest.mark.slow
def test_mypy_is_clean_on_src():
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Success: no issues found")


def test_docs_index_links_every_guide():
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)\)", index)
    written = {p.name for p in (ROOT / "docs").glob("*.md") if p.name != "README.md"}
    assert written <= set(GUIDES), f"guides missing from docs/README.md: {written - set(GUIDES)}"
    # A generated project without the tune part has no tuning.md, and its index must not link it either.
    assert [link for link in links if not link.startswith("../")] == [g for g in GUIDES if g in written]
    for link in links:
        if link.startswith("../"):
            assert (ROOT / "docs" / link).resolve().is_file(), link

"""What users read is finished (issue 17, acceptance): no placeholder text in the README or docs/, in this
repository or the generated template, and every figure in them sits next to the command that draws it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers import ROOT

MARKERS = re.compile(r"PLACEHOLDER|\bTODO\b|\bTBD\b|\bFIXME\b")
TEMPLATE = ROOT / "{{ '{' }}{cookiecutter.project_slug}}"
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+\.(?:png|svg|jpe?g|gif))\)")
COMMAND = re.compile(r"(?:^|`|\$ )(?:python|bash|pytest|tensorboard) ")


def _read_by_users() -> list[Path]:
    files = []
    for root in (ROOT, TEMPLATE):
        files += [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    return [path for path in files if path.is_file()]


def test_no_placeholder_text_in_the_readme_or_docs():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _read_by_users()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if MARKERS.search(line)
    ]
    assert not found, "placeholder text:\n" + "\n".join(found)


def test_the_placeholder_check_catches_each_marker():
    for line in ("Results: TBD", "TODO: measure", "<PLACEHOLDER>", "FIXME later", "RESULTS_PLACEHOLDER here"):
        assert MARKERS.search(line), line
    assert not MARKERS.search("todos and placeholders are words, not markers")


def test_every_figure_has_the_command_that_reproduces_it_next_to_it():
    """An image embedded in the README or a guide exists and has a command (``python ...``, ``bash ...``) within
    six lines of it, so a reader can redraw it."""
    missing = []
    for path in _read_by_users():
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            for target in IMAGE.findall(line):
                if not target.startswith("http") and not (path.parent / target).is_file():
                    missing.append(f"{path.relative_to(ROOT)}:{number + 1}: {target} does not exist")
                near = lines[max(0, number - 6) : number + 7]
                if not any(COMMAND.search(other) for other in near):
                    missing.append(f"{path.relative_to(ROOT)}:{number + 1}: no command next to {target}")
    assert not missing, "\n".join(missing)


def test_the_figure_check_finds_images_and_commands():
    assert IMAGE.findall("![best so far](figures/accuracy.png)") == ["figures/accuracy.png"]
    assert COMMAND.search("`python bench/e2e.py --reps 5`") and COMMAND.search("python x.py")
    assert not COMMAND.search("see the plot below")

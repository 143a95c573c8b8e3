"""How a root file becomes a template file: the project's names become cookiecutter variables.

The defaults of ``cookiecutter.json`` spell every name as the root does, so each rule below renders
back to the root's exact text. Order of work for one file: values spelled once (``FIXED``), then the
name in its contexts (``NAME_RULES``), then any literal ``{{``, ``{%`` or ``{#`` is escaped so that
Jinja prints it (GitHub's ``${{ matrix.x }}``, bash's ``${#a[@]}``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

NAME = "litproj"
TEMPLATE_DIR = "{{cookiecutter.project_slug}}"

PACKAGE = "{{ cookiecutter.package_name }}"
SLUG = "{{ cookiecutter.project_slug }}"
TITLE = "{{ cookiecutter.project_name }}"


class BuildError(Exception):
    """A root file the rules cannot turn into a template that renders back to it."""


TOML_ESCAPES = r"""replace('\\', '\\\\') | replace('"', '\\"')"""


def toml_string(variable: str) -> str:
    """A variable inside a TOML basic string, with backslashes and quotes escaped."""
    return "{{ cookiecutter." + variable + " | " + TOML_ESCAPES + " }}"


class Fixed(NamedTuple):
    """A value the root spells exactly once in one file; group 1 is the root's spelling of it."""

    path: str
    pattern: str
    jinja: str


FIXED = [
    Fixed("README.md", r"\A# .*\n\n(.*)$", f"# {TITLE}\n\n{{{{ cookiecutter.description }}}}"),
    Fixed("pyproject.toml", r'^name = "(.*)"$', f'name = "{SLUG}"'),
    Fixed("pyproject.toml", r'^description = "(.*)"$', f'description = "{toml_string("description")}"'),
    Fixed(
        "pyproject.toml",
        r'^authors = \[\{ name = "(.*)" \}\]$',
        f'authors = [{{ name = "{toml_string("author")}"'
        f'{{% if cookiecutter.email %}}, email = "{toml_string("email")}"{{% endif %}} }}]',
    ),
    Fixed("pyproject.toml", r'^requires-python = ">=(.*)"$', 'requires-python = ">={{ cookiecutter.python_version }}"'),
    Fixed(
        "pyproject.toml",
        r'^license = \{ text = "(.*)" \}\n',
        '{% if cookiecutter.license != "none" %}license = { text = "{{ cookiecutter.license }}" }\n{% endif %}',
    ),
    Fixed(
        "pyproject.toml",
        r'^target-version = "py(.*)"$',
        "target-version = \"py{{ cookiecutter.python_version | replace('.', '') }}\"",
    ),
]

# Files whose whole text comes from elsewhere: LICENSE is the chosen text from templates/licenses/.
WHOLE = {
    "LICENSE": '{% if cookiecutter.license != "none" %}'
    '{% include "licenses/" ~ cookiecutter.license ~ ".txt" %}{% endif %}'
}

# (files glob, regex, replacement), first match wins at each place. The distribution name (pip's) is
# the slug; prose in Markdown says the project's name; every other spelling is the import package.
NAME_RULES = [
    ("pyproject.toml", rf'(?<="){NAME}(?=\[)', SLUG),  # "litproj[tune]": the project's own extras
    ("pyproject.toml", rf"^{NAME}(?= = \")", SLUG),  # [project.scripts] console-script name
    ("*.md", rf"(?<![\w./`-]){NAME}(?![\w/`-]|\.\w)", TITLE),  # prose; code spans are skipped below
    ("*", NAME.upper(), "{{ cookiecutter.package_name | upper }}"),  # environment variables
    ("*", NAME, PACKAGE),
]
MARK = "\ue000{}\ue001"  # a stand-in for inserted Jinja while the literal text is escaped


def template_path(path: str) -> str:
    """``src/litproj/cli/app.py`` -> ``src/{{cookiecutter.package_name}}/cli/app.py``."""
    if re.search(r"[{}]", path) or re.search(NAME, path.replace(NAME, ""), re.IGNORECASE):
        raise BuildError(f"{path}: path needs a rule (braces, or the name spelled differently)")
    return path.replace(NAME, "{{cookiecutter.package_name}}")


def _code_spans(text: str) -> list[tuple[int, int]]:
    """Character ranges of fenced code blocks and inline code in Markdown."""
    spans, offset, fence = [], 0, None
    for line in text.splitlines(keepends=True):
        stripped = line.lstrip()
        if fence or stripped.startswith(("```", "~~~")):
            spans.append((offset, offset + len(line)))
            if stripped.startswith(("```", "~~~")):
                fence = None if fence and stripped.startswith(fence) else (fence or stripped[:3])
        else:
            spans += [(offset + m.start(), offset + m.end()) for m in re.finditer(r"(`+).+?\1", line)]
        offset += len(line)
    return spans


def template_text(path: str, text: str) -> str:
    """The template for the root file ``path`` whose content is ``text``."""
    if path in WHOLE:
        return WHOLE[path]
    if "\ue000" in text or "\ue001" in text:
        raise BuildError(f"{path}: contains the private-use characters U+E000/U+E001 the build uses")
    inserted: list[str] = []

    def mark(jinja: str) -> str:
        inserted.append(jinja)
        return MARK.format(len(inserted) - 1)

    for rule in (r for r in FIXED if r.path == path):
        text, count = re.subn(rule.pattern, lambda _m, j=rule.jinja: mark(j), text, flags=re.MULTILINE)
        if count != 1:
            raise BuildError(f"{path}: expected one match of {rule.pattern!r}, found {count}; update FIXED")
    for glob, pattern, jinja in NAME_RULES:
        if not Path(path).match(glob):
            continue
        code = _code_spans(text) if glob == "*.md" else []

        def replace(m: re.Match, jinja=jinja, code=code) -> str:
            return m.group(0) if any(start <= m.start() < end for start, end in code) else mark(jinja)

        text = re.sub(pattern, replace, text, flags=re.MULTILINE)
    leftover = re.search(NAME, text, re.IGNORECASE)
    if leftover:
        line = text.count("\n", 0, leftover.start()) + 1
        raise BuildError(f"{path}:{line}: '{leftover.group(0)}' is spelled in a way no rule covers")
    text = re.sub("\\{(?=[{%#\ue000])", "{{ '{' }}", text)
    return re.sub("\ue000(\\d+)\ue001", lambda m: inserted[int(m.group(1))], text)

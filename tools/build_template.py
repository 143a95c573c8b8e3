"""Generate the cookiecutter template folder ``{{cookiecutter.project_slug}}/`` from the repository root.

The root is a runnable project and the one source of truth. The template folder is derived from it,
committed (``cookiecutter gh:...`` and cruft read it from git) and never edited by hand::

    python tools/build_template.py           # rewrite the template folder
    python tools/build_template.py --check   # exit 1 listing the stale files (CI runs this)

Exported: every file git tracks, minus the template machinery (``EXCLUDE``), so new files are exported
without touching this script (``git add`` them first). The project's name becomes cookiecutter variables
by the rules in :mod:`template_rules`; a spelling of the name that no rule covers stops the build, and
every file is rendered back with the defaults and compared with the root before anything is written.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import stat
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from template_rules import TEMPLATE_DIR, BuildError, template_path, template_text

ROOT = Path(__file__).resolve().parents[1]

# Root paths a generated project must not contain, and why. A trailing "/" means a whole folder.
EXCLUDE = {
    TEMPLATE_DIR + "/": "the generated template itself",
    "cookiecutter.json": "the template's variables",
    "hooks/": "cookiecutter's pre/post generation hooks",
    "templates/": "texts the template includes (licenses); cookiecutter looks for them there",
    "tools/": "this generator, its name rules and their README: a generated project has no template to build",
    "tests/test_template*.py": "tests of the template (they render it)",
    ".github/workflows/template.yml": "CI that bakes the template",
}
MARKER = re.compile(r"(>>>|<<<) part:(\w+)")


def is_excluded(path: str) -> bool:
    return any(path.startswith(rule) if rule.endswith("/") else fnmatch.fnmatchcase(path, rule) for rule in EXCLUDE)


def exported_files(root: Path = ROOT) -> list[str]:
    """Root-relative paths (posix) of the files a default render must reproduce."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise BuildError(f"needs a git checkout to list the tracked files ({err})") from err
    paths = (p for p in listed.decode().split("\0") if p)
    return sorted(p for p in paths if not is_excluded(p) and (root / p).is_file())


def load_context(root: Path = ROOT) -> dict:
    """cookiecutter's context with every default applied, exactly as ``--no-input`` computes it."""
    from cookiecutter.generate import generate_context
    from cookiecutter.prompt import prompt_for_config

    context = generate_context(context_file=str(root / "cookiecutter.json"))
    return {"cookiecutter": prompt_for_config(context, no_input=True)}


def _check_markers(path: str, text: str, parts: Iterable[str]) -> None:
    """Part markers must pair up, one per line, so that the post-generation hook can cut them cleanly."""
    open_name = None
    for number, line in enumerate(text.splitlines(), 1):
        found = MARKER.findall(line)
        if not found:
            continue
        (kind, name), where = found[0], f"{path}:{number}"
        if len(found) > 1 or name not in parts:
            raise BuildError(f"{where}: bad part marker (one per line; parts: {', '.join(parts)})")
        if (kind == ">>>") == (open_name is not None) or (kind == "<<<" and name != open_name):
            raise BuildError(f"{where}: '{kind} part:{name}' does not pair up")
        open_name = name if kind == ">>>" else None
    if open_name:
        raise BuildError(f"{path}: '>>> part:{open_name}' is never closed")


def _renderer(root: Path, context: dict):
    from cookiecutter.environment import StrictEnvironment
    from jinja2 import FileSystemLoader

    env = StrictEnvironment(context=context, keep_trailing_newline=True)
    env.loader = FileSystemLoader([str(root / "templates")])
    return lambda text: env.from_string(text).render(**context)


def _check_renders_back(path: str, rendered: str, text: str) -> None:
    """The default render must give the root's text back, or the template would drift from the root."""
    if rendered != text:
        pairs = zip(rendered.splitlines(keepends=True) + [""], text.splitlines(keepends=True) + [""], strict=False)
        number, (got, want) = next((i, p) for i, p in enumerate(pairs, 1) if p[0] != p[1])
        raise BuildError(
            f"{path}:{number}: renders with the defaults as {got!r}, not {want!r} "
            "(make cookiecutter.json's defaults or tools/template_rules.py agree with the root)"
        )


def desired_files(root: Path = ROOT) -> dict[str, tuple[bytes, int]]:
    """Template-folder-relative path -> (content, mode) of every file the template must hold."""
    from binaryornot.check import is_binary

    context = load_context(root)
    render = _renderer(root, context)
    parts = [spec["marker"] for spec in context["cookiecutter"]["_parts"].values()]
    files = {}
    for path in exported_files(root):
        source = root / path
        content, mode = source.read_bytes(), stat.S_IMODE(source.stat().st_mode)
        if not is_binary(str(source)):  # cookiecutter copies binary files unrendered; so do we
            text = content.decode("utf-8")
            _check_markers(path, text, parts)
            template = template_text(path, text)
            _check_renders_back(path, render(template), text)
            content = template.encode("utf-8")
        files[template_path(path)] = (content, mode)
    return files


def existing_files(root: Path = ROOT) -> dict[str, tuple[bytes, int]]:
    folder = root / TEMPLATE_DIR
    found = {}
    for file in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if file.is_file() and "__pycache__" not in file.parts:
            found[file.relative_to(folder).as_posix()] = (file.read_bytes(), stat.S_IMODE(file.stat().st_mode))
    return found


def stale(desired: dict, existing: dict) -> list[str]:
    """One line per template file that differs from what the root says it should be."""
    lines = []
    for path in sorted(desired.keys() | existing.keys()):
        want, have = desired.get(path), existing.get(path)
        if have is None:
            lines.append(f"missing  {TEMPLATE_DIR}/{path}")
        elif want is None:
            lines.append(f"extra    {TEMPLATE_DIR}/{path}")
        elif want[0] != have[0]:
            lines.append(f"differs  {TEMPLATE_DIR}/{path}")
        elif want[1] != have[1]:
            lines.append(f"mode     {TEMPLATE_DIR}/{path} ({oct(have[1])}, want {oct(want[1])})")
    return lines


def write(root: Path, desired: dict, existing: dict) -> int:
    folder = root / TEMPLATE_DIR
    for path in existing.keys() - desired.keys():
        (folder / path).unlink()
    for directory in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()
    changed = 0
    for path, (content, mode) in desired.items():
        if existing.get(path) != (content, mode):
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            target.chmod(mode)
            changed += 1
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 listing stale files instead of writing")
    parser.add_argument("--list", action="store_true", help="print the exported root files, one per line")
    args = parser.parse_args(argv)
    try:
        if args.list:
            print("\n".join(exported_files(ROOT)))
            return 0
        desired, existing = desired_files(ROOT), existing_files(ROOT)
    except BuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ImportError as err:
        print(f"error: the build renders with cookiecutter: pip install cookiecutter ({err})", file=sys.stderr)
        return 2
    lines = stale(desired, existing)
    if args.check:
        if lines:
            print(f"{TEMPLATE_DIR}/ is out of date; run `python tools/build_template.py`:", file=sys.stderr)
            print("\n".join(lines), file=sys.stderr)
            return 1
        print(f"{TEMPLATE_DIR}/ is up to date ({len(desired)} files from the root)")
        return 0
    changed = write(ROOT, desired, existing)
    removed = len(existing.keys() - desired.keys())
    print(f"{TEMPLATE_DIR}/: {len(desired)} files, {changed} written, {removed} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

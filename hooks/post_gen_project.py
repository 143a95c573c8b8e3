"""Remove the parts the user switched off, and the license file when there is no license.

Runs inside the new project. What a part is lives in cookiecutter.json's ``_parts`` (the tests read the
same manifest): the paths (globs) it owns, and the name of its markers, which fence the lines it owns
inside shared files such as pyproject.toml and README.md (a line holding ``>>> part:NAME`` up to one
holding ``<<< part:NAME``, both included).
"""

import json
import re
import shutil
import sys
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | jsonify }}""")


def remove_paths(patterns: list, package: str) -> None:
    for pattern in patterns:
        for path in sorted(Path().glob(pattern.format(package_name=package))):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            for parent in path.parents[:-1]:  # a folder the part emptied goes too
                if parent.exists() and not any(parent.iterdir()):
                    parent.rmdir()


def cut_marked_lines(marker: str) -> None:
    fence = re.compile(rf"(>>>|<<<) part:{re.escape(marker)}\b")
    for path in sorted(p for p in Path().rglob("*") if p.is_file()):
        try:
            with open(path, encoding="utf-8", newline="") as handle:  # newline="": keep line endings as they are
                text = handle.read()
        except (UnicodeDecodeError, OSError):
            continue  # binary files hold no markers
        if not fence.search(text):
            continue
        kept, inside = [], False
        for line in text.splitlines(keepends=True):
            found = fence.search(line)
            if found:
                inside = found.group(1) == ">>>"
            elif not inside:
                kept.append(line)
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write("".join(kept))


def main(answers: dict) -> None:
    for option, part in answers["_parts"].items():
        if answers[option] == "no":
            remove_paths(part["paths"], answers["package_name"])
            cut_marked_lines(part["marker"])
    if answers["license"] == "none":
        Path("LICENSE").unlink()


if __name__ == "__main__":
    try:
        main(ANSWERS)
    except OSError as err:
        print(f"error: could not remove a switched-off part: {err}", file=sys.stderr)
        sys.exit(1)

"""Refuse names that would give a broken project, before any file is written.

cookiecutter renders this file with the answers, runs it, and on exit status 1 removes the new folder;
the one line printed here is the message the user sees.
"""

import json
import keyword
import re
import sys

ANSWERS = json.loads(r"""{{ cookiecutter | jsonify }}""")

# Import names of the project's dependencies (and of its own test package): a package named like one of
# them would be imported instead of it, or hide it.
SHADOWED = {
    "ConfigSpace", "PIL", "cookiecutter", "cruft", "hpbandster", "hyperopt", "jsonargparse", "lightning",
    "lightning_fabric", "lightning_utilities", "matplotlib", "numpy", "optuna", "psutil", "pytest",
    "pytorch_lightning", "ray", "rich", "ruff", "setuptools", "sklearn", "tensorboard", "tests", "torch",
    "torchmetrics", "torchvision", "yaml",
}  # fmt: skip
DISTRIBUTION = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")  # PEP 508 project names


def problem(answers: dict) -> str:
    """The first answer that cannot work, as one line naming it and the fix; empty when all are fine."""
    package, slug, python = answers["package_name"], answers["project_slug"], answers["python_version"]
    if not package.isidentifier() or keyword.iskeyword(package):
        return f"package_name '{package}' is not a valid Python identifier; use letters, digits and _, e.g. mask_clf"
    if package in SHADOWED or package in getattr(sys, "stdlib_module_names", ()):  # Python >= 3.10 lists them
        return f"package_name '{package}' would shadow the '{package}' module; choose another, e.g. my_{package}"
    if not DISTRIBUTION.match(slug):
        return f"project_slug '{slug}' is not a valid folder/distribution name; use letters, digits, -, _ and ."
    match = re.fullmatch(r"3\.(\d+)", python)
    if not match or int(match.group(1)) < 10:
        return f"python_version '{python}' is not supported; use 3.10 or newer, e.g. 3.11"
    return ""


if __name__ == "__main__":
    message = problem(ANSWERS)
    if message:
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)

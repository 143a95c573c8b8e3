"""litproj's uses of other libraries' private names: each one still exists, and no new one appears unlisted.

tools/README.md ("Private names of other libraries") says, for each site below, why no public API does the
job. A test here fails with the site to update when a library renames or removes the name; the scan fails
when src/ gains a site that is not in ALLOWED (add it there and to the README's table, or use public API).
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: Every private name of another library that src/ uses, as the scan reports it: (file, name) -> uses.
ALLOWED = {
    ("litproj/reliability/rank_watchdog.py", "_SubprocessScriptLauncher"): 1,  # the import
    ("litproj/strategies/fsdp.py", "_data_parallel_size"): 1,
    ("litproj/cli/app.py", "_instantiate_trainer"): 1,
    # >>> part:tune
    ("litproj/tune/runner.py", "_experiment_analysis"): 1,
    # <<< part:tune
}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _source(obj) -> str:
    return inspect.getsource(obj)


# --- each remaining name still exists -------------------------------------------------------------------------


def test_model_parallel_data_parallel_size():
    from pytorch_lightning.strategies import ModelParallelStrategy

    assert hasattr(ModelParallelStrategy(), "_data_parallel_size") and "self._data_parallel_size" in _source(
        ModelParallelStrategy.setup_environment
    ), "pytorch-lightning renamed ModelParallelStrategy._data_parallel_size; update src/litproj/strategies/fsdp.py"


def test_lightning_cli_instantiate_trainer():
    from pytorch_lightning.cli import LightningCLI

    method = getattr(LightningCLI, "_instantiate_trainer", None)
    assert method is not None, (
        "pytorch-lightning renamed LightningCLI._instantiate_trainer; update src/litproj/cli/app.py"
    )
    assert list(inspect.signature(method).parameters) == ["self", "config", "callbacks"], (
        "pytorch-lightning changed LightningCLI._instantiate_trainer(config, callbacks); update src/litproj/cli/app.py"
    )


def test_subprocess_script_launcher_procs():
    try:
        from pytorch_lightning.strategies.launchers import _SubprocessScriptLauncher
    except ImportError:
        pytest.fail(
            "pytorch-lightning renamed _SubprocessScriptLauncher; update src/litproj/reliability/rank_watchdog.py"
        )
    assert "self.procs" in _source(_SubprocessScriptLauncher), (
        "pytorch-lightning renamed _SubprocessScriptLauncher.procs; update src/litproj/reliability/rank_watchdog.py"
    )


# >>> part:tune
def test_ray_result_grid_experiment_analysis():
    ResultGrid = pytest.importorskip("ray.tune").ResultGrid  # a project generated without tune has no Ray

    assert "self._experiment_analysis = " in _source(ResultGrid.__init__), (
        "ray renamed ResultGrid._experiment_analysis; update src/litproj/tune/runner.py (_rows)"
    )


# <<< part:tune


# --- no new site ----------------------------------------------------------------------------------------------


def _module_sites(tree: ast.Module) -> list[tuple[str, int]]:
    """Private names of other modules, without importing anything:

    - ``from lib import _Name``, ``from lib._mod import x``, ``import lib._mod`` (not litproj's, nor relative ones);
    - ``obj._name`` where ``obj`` is not ``self`` or ``cls`` (litproj never reaches into its own objects so);
    - ``getattr(obj, "_name")`` and its kin (hasattr, setattr, delattr).
    """
    sites = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and not (node.module or "").startswith("litproj"):
            sites += [(part, node.lineno) for part in (node.module or "").split(".") if _private(part)]
            sites += [(alias.name, node.lineno) for alias in node.names if _private(alias.name)]
        elif isinstance(node, ast.Import):
            sites += [(part, node.lineno) for alias in node.names for part in alias.name.split(".") if _private(part)]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                sites.append((node.attr, node.lineno))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr", "delattr")
            and len(node.args) >= 2
        ):
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and _private(name.value):
                sites.append((name.value, node.lineno))
    return sites


def _inherited_sites(tree: ast.Module, module) -> list[tuple[str, int]]:
    """``self._name`` and ``def _name`` in a litproj class where ``_name`` comes from a base class of another library:
    an attribute of that base, or a whole word of its source (so also what its ``__init__`` sets on ``self``)."""
    sites = []
    for node in ast.walk(tree):
        cls = getattr(module, node.name, None) if isinstance(node, ast.ClassDef) else None
        if not inspect.isclass(cls):
            continue
        bases = [b for b in cls.__mro__[1:] if b is not object and not b.__module__.startswith("litproj")]
        if not bases:
            continue
        names: set[tuple[str, int]] = set()
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id in ("self", "cls"):
                if _private(sub.attr):
                    names.add((sub.attr, sub.lineno))
            elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and _private(sub.name):
                names.add((sub.name, sub.lineno))
        sources = []
        for base in bases:
            with contextlib.suppress(OSError, TypeError):  # a class defined in C has no source
                sources.append(inspect.getsource(base))
        text = "\n".join(sources)
        for name, line in names:
            if any(hasattr(base, name) for base in bases) or re.search(rf"\b{name}\b", text):
                sites.append((name, line))
    return sites


def _scan() -> dict[tuple[str, str], list[int]]:
    found: dict[tuple[str, str], list[int]] = {}
    for path in sorted((SRC / "litproj").rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
        parts = path.relative_to(SRC).with_suffix("").parts
        module = importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
        for name, line in {*_module_sites(tree), *_inherited_sites(tree, module)}:
            found.setdefault((relative, name), []).append(line)
    return found


def test_no_new_private_names():
    found = _scan()
    counts = {site: len(lines) for site, lines in found.items()}
    new = {f"src/{f}:{sorted(found[(f, n)])} {n}" for (f, n), c in counts.items() if c > ALLOWED.get((f, n), 0)}
    assert not new, (
        f"new private names of other libraries in src/: {sorted(new)}. Use public API, or add them to ALLOWED in "
        "tests/test_private_names.py and to tools/README.md's 'Private names of other libraries'."
    )
    present = {site for site in ALLOWED if (SRC / site[0]).is_file()}  # tune/ is optional
    gone = {site for site in present if counts.get(site, 0) < ALLOWED[site]}
    assert not gone, f"fewer sites than ALLOWED lists: {sorted(gone)}; lower their counts here and in tools/README.md."

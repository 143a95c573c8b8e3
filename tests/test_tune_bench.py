"""The search benchmark behind docs/tuning.md's measured results: its arms, its curves, its plots, its numbers."""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import subprocess
import sys

import pytest
import yaml

from tests.helpers import ROOT

pytest.importorskip("ray")

PNG = b"\x89PNG\r\n\x1a\n"
DOCS_JSON = ROOT / "docs" / "tune_results.json"


@pytest.fixture
def bench(monkeypatch):
    """bench/tune_schedulers.py as a module (bench/ is a folder of scripts, not a package)."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    return importlib.import_module("tune_schedulers")


def test_best_so_far_is_the_running_maximum_and_waits_for_a_report(bench):
    assert bench.best_so_far([None, 0.5, 0.4, 0.9, None, 0.7]) == [None, 0.5, 0.5, 0.9, 0.9, 0.9]


@pytest.mark.parametrize("points", [2, 16])
def test_the_grid_has_as_many_configurations_as_the_other_searchers_have_trials(bench, points):
    space = yaml.safe_load(bench.grid_space(points))
    assert math.prod(len(spec["grid"]) for spec in space.values()) == points
    lrs = space["model.lr"]["grid"]
    assert min(lrs) == pytest.approx(1e-4) and max(lrs) == pytest.approx(3e-2)  # random.yaml's lr range


def test_both_plots_are_drawn_from_the_results_json(bench, tmp_path):
    rows = [
        {"seed": s, "scheduler": n, "epochs": e, "best": 0.9} for s in (0, 1) for n, e in (("fifo", 8), ("asha", 3))
    ]
    curves = [{"seed": s, "searcher": n, "curve": [None, 0.5, 0.8]} for s in (0, 1) for n in ("random", "grid")]
    paths = bench.tune_plots.draw({"schedulers": rows, "searchers": curves}, tmp_path / "img")
    assert [p.name for p in paths] == ["tune_searchers.png", "tune_schedulers.png"]
    assert all(p.read_bytes().startswith(PNG) for p in paths)


def test_the_docs_numbers_come_from_a_full_run_with_every_arm(bench):
    """docs/tuning.md quotes docs/tune_results.json: 3 seeds of every scheduler and searcher, and the plots."""
    results = json.loads(DOCS_JSON.read_text(encoding="utf-8"))
    for key, names in (("schedulers", bench.SCHEDULERS), ("searchers", bench.SEARCHERS)):
        seeds = {name: sorted(r["seed"] for r in results[key] if r[key[:-1]] == name) for name in names}
        assert seeds == {name: [0, 1, 2] for name in names}
    ratio = results["summary"]["asha"]["epoch_ratio"]
    assert f"{100 * ratio:.0f} %" in (ROOT / "docs" / "tuning.md").read_text(encoding="utf-8")
    for name in (bench.tune_plots.SEARCHERS_PNG, bench.tune_plots.SCHEDULERS_PNG):
        assert (ROOT / "docs" / "img" / name).read_bytes().startswith(PNG)


@pytest.mark.slow
def test_the_benchmark_runs_every_arm_and_writes_json_and_plots(tmp_path):
    """``--quick``: one seed, two trials of two short epochs per arm, on a real Ray session (a few minutes)."""
    out, plots = tmp_path / "tune.json", tmp_path / "img"
    command = [sys.executable, str(ROOT / "bench" / "tune_schedulers.py"), "--quick", "--json", str(out)]
    done = subprocess.run([*command, "--plots", str(plots)], capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    assert {r["scheduler"] for r in results["schedulers"]} == {"fifo", "asha", "hyperband"}
    bohb = importlib.util.find_spec("hpbandster") is not None
    expected = {"random", "grid", "optuna", "hyperopt"} | ({"bohb"} if bohb else set())
    assert {r["searcher"] for r in results["searchers"]} == expected  # BOHB only with its extra
    assert ("bohb left out: needs hpbandster" in done.stdout) == ("bohb" not in expected)
    assert all(r["trials"] == 2 and len(r["curve"]) == 2 for r in results["searchers"])
    assert 0 < results["summary"]["asha"]["epoch_ratio"] <= 1
    assert sorted(p.name for p in plots.iterdir()) == ["tune_schedulers.png", "tune_searchers.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img", "tune.json"]  # nothing else left behind

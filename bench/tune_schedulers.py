"""Benchmark: what early stopping and model-based searchers buy on the default task (numbers in docs/tuning.md).

1. Schedulers: FIFO vs ASHA vs HyperBand on the same random samples (same seed -> same configurations):
   total epochs trained and best validation accuracy. Goal: ASHA within 0.5 points of FIFO's best with at
   most 40 % of FIFO's epochs.
2. Searchers: random vs grid vs Optuna TPE vs HyperOpt TPE vs BOHB, every trial run to the end except under
   BOHB, which brings its own HyperBand: best validation accuracy so far against trials (creation order).
   The grid enumerates lr x weight_decay x batch size with as many points as the others have trials.

Every search is a real ``tune.py`` run (litproj.tune.runner.run) on one local Ray session; the arms run
interleaved per seed so that machine load falls on all of them alike. Plots: bench/tune_plots.py.

    python bench/tune_schedulers.py --json docs/tune_results.json --plots docs/img   # full size (docs)
    python bench/tune_schedulers.py --quick --json /tmp/tune.json --plots /tmp      # smoke test
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import benchlib
import tune_plots

SCHEDULERS = ("fifo", "asha", "hyperband")
SEARCHERS = ("random", "grid", "optuna", "hyperopt", "bohb")
SPACE = benchlib.ROOT / "configs" / "tune" / "random.yaml"
#: a quick run's trials see a few batches only
QUICK_TRIAL = ["--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2"]


def grid_space(points: int) -> str:
    """A grid over random.yaml's ranges with ``points`` configurations (lr x weight_decay x batch size)."""
    lr_points, small = (points // 4, False) if points >= 4 and points % 4 == 0 else (points, True)
    lrs = [round(10 ** (math.log10(1e-4) + i * (math.log10(3e-2) - math.log10(1e-4)) / max(1, lr_points - 1)), 6)
           for i in range(lr_points)]  # fmt: skip
    lines = [f"model.lr: {{grid: {lrs}}}"]
    if not small:
        lines += ["model.weight_decay: {grid: [1.0e-5, 1.0e-3]}", "data.batch_size: {grid: [32, 128]}"]
    return "\n".join(lines) + "\n"


def search(runs_dir: Path, seed: int, epochs: int, trial_args: list[str], *args: str) -> dict:
    """One ``tune.py`` run; its trials in the order Ray created them (the order of ``search.json``)."""
    from litproj.tune.runner import run

    common = ["--trainer.max_epochs", str(epochs), "--seed_everything", str(seed), "--runs_dir", str(runs_dir)]
    started = time.perf_counter()
    result = run([*args, *common, *trial_args])
    trials = json.loads((Path(result["search_dir"]) / "search.json").read_text(encoding="utf-8"))["trials"]
    return {
        "seed": seed,
        "epochs": result["epochs_total"],
        "best": result["best_value"],
        "trials": len(trials),
        "trial_best": [t["best"] for t in trials],
        "trial_epochs": [t["epochs"] for t in trials],
        "seconds": round(time.perf_counter() - started, 1),
    }


def best_so_far(values: list[float | None]) -> list[float | None]:
    """Running maximum; None until a trial has reported."""
    curve, best = [], None
    for value in values:
        if value is not None:
            best = value if best is None else max(best, value)
        curve.append(best)
    return curve


def installed_searchers() -> list[str]:
    """The searchers whose optional packages are importable here; the others are left out, saying how to add them
    (BOHB needs the ``bohb`` extra, which the dev install leaves out)."""
    from litproj.tune.methods import SEARCHERS as NEEDS

    found = []
    for name in SEARCHERS:
        missing = [module for module in NEEDS[name] if importlib.util.find_spec(module) is None]
        if missing:
            print(f"{name} left out: needs {', '.join(missing)} (pip install -e '.[{name}]')", flush=True)
        else:
            found.append(name)
    return found


def run_all(args: argparse.Namespace, runs: Path) -> tuple[list[dict], list[dict]]:
    """Every arm of a seed before the next seed, so that a change in machine load falls on all arms alike."""
    grid_file = runs / "grid.yaml"
    grid_file.write_text(grid_space(args.search_samples), encoding="utf-8")
    trial_args = QUICK_TRIAL if args.quick else []
    scheduler_rows, searcher_rows = [], []
    searchers = installed_searchers()
    for seed in args.seeds:
        for name in SCHEDULERS:
            given = ["--search", "random", "--scheduler", name, "--num_samples", str(args.num_samples)]
            row = search(runs, seed, args.max_epochs, trial_args, *given, "--space", str(SPACE))
            scheduler_rows.append({"scheduler": name, **row})
            print(f"seed {seed} {name}: best {row['best']:.4f}, {row['epochs']} epochs, {row['seconds']} s", flush=True)
        for name in searchers:
            space, samples = (grid_file, 1) if name == "grid" else (SPACE, args.search_samples)
            scheduler = "hyperband" if name == "bohb" else "fifo"
            given = ["--search", name, "--scheduler", scheduler, "--num_samples", str(samples), "--space", str(space)]
            row = search(runs, seed, args.search_epochs, trial_args, *given, "--max_concurrent", "2")
            searcher_rows.append({"searcher": name, **row, "curve": best_so_far(row["trial_best"])})
            print(f"seed {seed} {name}: best {row['best']:.4f}, {row['trials']} trials, {row['seconds']} s", flush=True)
    return scheduler_rows, searcher_rows


def summarise(scheduler_rows: list[dict], searcher_rows: list[dict]) -> dict:
    """Means over seeds; ASHA's and HyperBand's epochs as a fraction of FIFO's."""
    summary: dict = {}
    for name in SCHEDULERS:
        rows = [r for r in scheduler_rows if r["scheduler"] == name]
        summary[name] = {
            "epochs": statistics.mean(r["epochs"] for r in rows),
            "best": statistics.mean(r["best"] for r in rows),
        }
    for name in ("asha", "hyperband"):
        summary[name]["epoch_ratio"] = summary[name]["epochs"] / summary["fifo"]["epochs"]
        summary[name]["minus_fifo_points"] = 100 * (summary[name]["best"] - summary["fifo"]["best"])
    for name in dict.fromkeys(r["searcher"] for r in searcher_rows):
        rows = [r for r in searcher_rows if r["searcher"] == name]
        length = min(len(r["curve"]) for r in rows)
        curves = [r["curve"] for r in rows]
        # where a searcher sends its later trials: their mean accuracy, not only the best one
        later = [v for r in rows for v in r["trial_best"][length // 2 :] if v is not None]
        summary[name] = {
            "mean_best_so_far": [
                statistics.mean(c[i] for c in curves) if all(c[i] is not None for c in curves) else None
                for i in range(length)
            ],
            "mean_of_later_half": statistics.mean(later) if later else None,
        }
    return summary


def print_tables(summary: dict, scheduler_rows: list[dict], seeds: list[int]) -> None:
    rows = []
    for name in SCHEDULERS:
        per_seed = [r for r in scheduler_rows if r["scheduler"] == name]
        cells = [f"{100 * r['best']:.2f} / {r['epochs']}" for r in per_seed]
        ratio = f"{100 * summary[name].get('epoch_ratio', 1.0):.0f} %"
        rows.append([name, *cells, f"{100 * summary[name]['best']:.2f} / {summary[name]['epochs']:.0f}", ratio])
    columns = ["scheduler", *[f"seed {s}: acc % / epochs" for s in seeds], "mean", "epochs vs fifo"]
    benchlib.print_table("schedulers (random search)", columns, rows)
    searchers = [name for name in SEARCHERS if name in summary]
    length = len(summary[searchers[0]]["mean_best_so_far"])
    points = sorted({1, *(max(1, length * q // 4) for q in (1, 2, 3, 4))})
    searcher_table = []
    for name in searchers:
        curve = summary[name]["mean_best_so_far"]
        shown = [f"{100 * curve[p - 1]:.2f}" if p <= len(curve) and curve[p - 1] is not None else "-" for p in points]
        later = summary[name]["mean_of_later_half"]
        searcher_table.append([name, *shown, "-" if later is None else f"{100 * later:.1f}"])
    columns = ["searcher", *[f"after {p}" for p in points], "mean of later half"]
    benchlib.print_table("searchers: mean best-so-far val acc % after N trials", columns, searcher_table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_samples", type=int, default=12, help="Trials per scheduler search.")
    parser.add_argument("--max_epochs", type=int, default=9, help="Epochs of a full scheduler trial.")
    parser.add_argument("--search_samples", type=int, default=16, help="Trials per searcher (and grid points).")
    parser.add_argument("--search_epochs", type=int, default=1, help="Epochs of a searcher trial.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--num_cpus", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 trials of 2 short epochs: a smoke test.")
    parser.add_argument("--json", type=Path, default=None, help="Write the raw rows and summary here.")
    parser.add_argument("--plots", type=Path, default=None, help="Folder for the two PNG plots.")
    args = parser.parse_args()
    if args.quick:
        args.num_samples = args.search_samples = args.max_epochs = args.search_epochs = 2
        args.seeds = args.seeds[:1]

    import ray

    started = time.perf_counter()
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory(prefix="litproj-bench-") as runs:
            scheduler_rows, searcher_rows = run_all(args, Path(runs))
    finally:
        ray.shutdown()
    summary = summarise(scheduler_rows, searcher_rows)
    print_tables(summary, scheduler_rows, args.seeds)
    payload = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "machine": benchlib.machine(),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "summary": summary,
        "schedulers": scheduler_rows,
        "searchers": searcher_rows,
    }
    benchlib.save_json(str(args.json) if args.json else None, payload)
    if args.plots:
        for path in tune_plots.draw(payload, args.plots):
            print(f"plot: {path}")


if __name__ == "__main__":
    main()

"""Benchmark: what early stopping and a model-based searcher buy on the default task (numbers in docs/tuning.md).

1. FIFO vs ASHA on the same random samples (same seed -> same configurations): epochs consumed and best
   validation accuracy. Goal: ASHA within 0.5 points of FIFO's best using <= 40 % of FIFO's epochs.
2. Random vs Optuna TPE: trials (in creation order) until one reaches ``--target`` validation accuracy.

Every search is a real ``tune.py`` run ({{ cookiecutter.package_name }}.tune.runner.run) on one local Ray session; runs are
interleaved per seed so that machine load affects both arms alike.

    python bench/tune_schedulers.py                                 # full size
    python bench/tune_schedulers.py --num_samples 8 --max_epochs 6   # reduced
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def _search(runs_dir: Path, seed: int, epochs: int, *args: str) -> dict:
    from {{ cookiecutter.package_name }}.tune.runner import run

    common = ["--trainer.max_epochs", str(epochs), "--seed_everything", str(seed), "--runs_dir", str(runs_dir)]
    started = time.perf_counter()
    result = run([*args, *common])
    trials = json.loads((Path(result["search_dir"]) / "search.json").read_text(encoding="utf-8"))["trials"]
    return {**result, "trial_rows": trials, "seconds": time.perf_counter() - started}


def _trials_to_target(result: dict, target: float) -> int | None:
    """1-based position (by creation order) of the first trial whose best value reached ``target``."""
    rows = sorted(result["trial_rows"], key=lambda t: t["trial_id"])
    return next((i for i, t in enumerate(rows, 1) if t["best"] is not None and t["best"] >= target), None)


def schedulers(runs_dir: Path, seeds: list[int], samples: int, epochs: int) -> list[dict]:
    rows = []
    for seed in seeds:
        for scheduler in ("fifo", "asha"):
            args = ["--search", "random", "--scheduler", scheduler, "--num_samples", str(samples)]
            result = _search(runs_dir, seed, epochs, *args)
            rows.append(
                {
                    "seed": seed,
                    "scheduler": scheduler,
                    "epochs": result["epochs_total"],
                    "best": result["best_value"],
                    "seconds": result["seconds"],
                }
            )
    return rows


def searchers(runs_dir: Path, seeds: list[int], samples: int, epochs: int, target: float) -> list[dict]:
    rows = []
    for seed in seeds:
        for searcher in ("random", "optuna"):
            args = [
                "--search",
                searcher,
                "--scheduler",
                "fifo",
                "--num_samples",
                str(samples),
                "--max_concurrent",
                "2",
                "--space",
                "configs/tune/random.yaml",
            ]
            result = _search(runs_dir, seed, epochs, *args)
            rows.append(
                {
                    "seed": seed,
                    "searcher": searcher,
                    "trials_to_target": _trials_to_target(result, target),
                    "best": result["best_value"],
                    "seconds": result["seconds"],
                }
            )
    return rows


def _report(fifo_asha: list[dict], random_optuna: list[dict], samples: int, target: float) -> dict:
    summary = {}
    for name in ("fifo", "asha"):
        rows = [r for r in fifo_asha if r["scheduler"] == name]
        summary[name] = {
            "epochs": statistics.median(r["epochs"] for r in rows),
            "best": statistics.median(r["best"] for r in rows),
        }
    summary["asha_epoch_ratio"] = summary["asha"]["epochs"] / summary["fifo"]["epochs"]
    summary["asha_minus_fifo_points"] = 100 * (summary["asha"]["best"] - summary["fifo"]["best"])
    for name in ("random", "optuna"):
        hits = [r["trials_to_target"] for r in random_optuna if r["searcher"] == name]
        summary[name] = {"trials_to_target": hits, "missed": sum(h is None for h in hits)}
    table = Table(title=f"tune benchmark (median of {len(fifo_asha) // 2} seeds; target val/acc {target})")
    table.add_column("arm", style="bold cyan")
    table.add_column("result")
    for name in ("fifo", "asha"):
        table.add_row(name, f"{summary[name]['epochs']:.0f} epochs, best val/acc {summary[name]['best']:.4f}")
    table.add_row("asha / fifo epochs", f"{summary['asha_epoch_ratio']:.2f}")
    table.add_row("asha - fifo best", f"{summary['asha_minus_fifo_points']:+.2f} points")
    for name in ("random", "optuna"):
        shown = ", ".join("-" if h is None else str(h) for h in summary[name]["trials_to_target"])
        table.add_row(name, f"trials to target per seed: {shown} (of {samples})")
    Console().print(table)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_samples", type=int, default=16, help="Trials per search.")
    parser.add_argument("--max_epochs", type=int, default=12, help="Epochs of a full trial.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--target", type=float, default=0.97, help="Validation accuracy to reach.")
    parser.add_argument("--num_cpus", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="Write the raw rows and summary as JSON.")
    args = parser.parse_args()

    import ray

    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory(prefix="{{ cookiecutter.package_name }}-bench-") as runs:
        fifo_asha = schedulers(Path(runs), args.seeds, args.num_samples, args.max_epochs)
        random_optuna = searchers(Path(runs), args.seeds, args.num_samples, args.max_epochs, args.target)
    ray.shutdown()
    summary = _report(fifo_asha, random_optuna, args.num_samples, args.target)
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "summary": summary,
                    "schedulers": fifo_asha,
                    "searchers": random_optuna,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()

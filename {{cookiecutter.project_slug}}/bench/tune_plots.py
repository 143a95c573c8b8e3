"""The two plots of docs/tuning.md, drawn from bench/tune_schedulers.py's JSON (so they can be redrawn alone).

python bench/tune_plots.py docs/tune_results.json --out docs/img
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SEARCHERS_PNG = "tune_searchers.png"
SCHEDULERS_PNG = "tune_schedulers.png"


def _searchers(payload: dict, path: Path) -> None:
    """Best-so-far validation accuracy against trials: mean of the seeds, min-max band."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(7, 4.2))
    names = dict.fromkeys(row["searcher"] for row in payload["searchers"])
    for name in names:
        curves = [row["curve"] for row in payload["searchers"] if row["searcher"] == name]
        length = min(len(c) for c in curves)
        points = [i for i in range(length) if all(c[i] is not None for c in curves)]
        values = [[100 * c[i] for c in curves] for i in points]
        trials = [i + 1 for i in points]
        (line,) = axes.plot(trials, [sum(v) / len(v) for v in values], marker="o", markersize=3, label=name)
        low, high = [min(v) for v in values], [max(v) for v in values]
        axes.fill_between(trials, low, high, color=line.get_color(), alpha=0.15)
    seeds = len({row["seed"] for row in payload["searchers"]})
    axes.set(xlabel="trials (creation order)", ylabel="best val accuracy so far (%)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(f"Searchers on digits: mean of {seeds} seeds, band = min..max", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _schedulers(payload: dict, path: Path) -> None:
    """Epochs each search trained, per seed and scheduler, each bar labelled with its best validation accuracy."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2))
    rows = payload["schedulers"]
    seeds = list(dict.fromkeys(r["seed"] for r in rows))
    names = list(dict.fromkeys(r["scheduler"] for r in rows))
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        mine = {r["seed"]: r for r in rows if r["scheduler"] == name}
        xs = [i + (k - (len(names) - 1) / 2) * width for i in range(len(seeds))]
        bars = axes.bar(xs, [mine[s]["epochs"] for s in seeds], width, label=name)
        axes.bar_label(bars, [f"{100 * mine[s]['best']:.1f} %" for s in seeds], fontsize=7, padding=2)
    axes.set_xticks(range(len(seeds)), [f"seed {s}" for s in seeds])
    axes.set(ylabel="total epochs trained by the search")
    axes.set_title("Schedulers on the same random samples (label: best val accuracy)", fontsize=10)
    axes.margins(y=0.25)
    axes.grid(alpha=0.3, axis="y")
    axes.legend(loc="upper center", ncols=len(names))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def draw(payload: dict, folder: Path) -> list[Path]:
    """Write both PNGs into ``folder``; their paths."""
    import matplotlib

    matplotlib.use("Agg")
    folder.mkdir(parents=True, exist_ok=True)
    searchers, schedulers = folder / SEARCHERS_PNG, folder / SCHEDULERS_PNG
    _searchers(payload, searchers)
    _schedulers(payload, schedulers)
    return [searchers, schedulers]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="JSON written by bench/tune_schedulers.py --json")
    parser.add_argument("--out", type=Path, default=Path("."), help="Folder for the PNGs.")
    args = parser.parse_args()
    for path in draw(json.loads(args.results.read_text(encoding="utf-8")), args.out):
        print(f"plot: {path}")


if __name__ == "__main__":
    main()

"""Data-parallel training on CPU: 1 process against 2 gloo processes on digits, throughput and accuracy.

Both run the default experiment (12 epochs, batch 64 per process) through bench/timed_train.py, so
``python train.py`` is what is measured. With 2 processes the global batch doubles and each epoch
has half the steps; throughput is training samples per second over the fit (validation included),
accuracy the test accuracy of the best checkpoint. Lightning gives each DDP process
``cores / processes`` threads; the single process keeps torch's default (all cores). The strategy is
Lightning's ``ddp`` (it re-launches the command for rank 1, as ``python train.py`` users get it).

    python bench/ddp_cpu.py                  # 3 interleaved repetitions of each
    python bench/ddp_cpu.py --quick          # 1 repetition, 1 epoch (smoke test)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import benchlib


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return benchlib.train_script_parser(__doc__.split("\n\n")[0], reps=3).parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    env = benchlib.env_pairs(args.env)
    common = ["--trainer.accelerator", "cpu", *(["--trainer.max_epochs", "1"] if args.quick else []), *args.train_args]
    layouts = {
        "1 process": ["--trainer.devices", "1"],
        "2 processes (ddp, gloo)": ["--trainer.devices", "2", "--trainer.strategy", "ddp"],
    }
    workdir = Path(tempfile.mkdtemp(prefix="{{ cookiecutter.package_name }}-ddp-"))
    script = benchlib.ROOT / "bench" / "timed_train.py"
    rows: dict[str, list[dict]] = {name: [] for name in layouts}

    def variant(name: str):
        def call() -> float:
            row = benchlib.run_timed(script, [*common, *layouts[name]], env, workdir)
            rows[name].append(row)
            return row["total"]

        return call

    benchlib.interleave({name: variant(name) for name in layouts}, reps=1 if args.quick else args.reps, warmup=0)
    report(args, common, env, rows)


def report(args, common: list[str], env: dict[str, str], rows: dict[str, list[dict]]) -> None:
    throughput = {name: benchlib.median([r["train_samples"] / r["train"] for r in reps]) for name, reps in rows.items()}
    single = throughput["1 process"]
    table = []
    for name, reps in rows.items():
        crashes = sum(r["returncode"] != 0 for r in reps)
        table.append(
            [
                name,
                f"{benchlib.median([r['fit'] for r in reps]):.2f}",
                f"{throughput[name]:,.0f}",
                f"{throughput[name] / single:.2f}",
                f"{benchlib.median([r['total'] for r in reps]):.2f}",
                f"{min(r['test/acc'] for r in reps):.4f}",
                f"{crashes}/{len(reps)}",
            ]
        )
    machine = benchlib.machine()
    caption = (
        f"python train.py {' '.join(common)} {' '.join(f'{k}={v}' for k, v in env.items())}; "
        f"median of {len(rows['1 process'])} runs (test acc: the lowest); {machine['cores']} cores, "
        f"{machine['cpu']}, load {machine['load_average_1min']:.1f}"
    )
    columns = ["layout", "fit s", "train samples/s", "× 1 process", "total s", "test acc", "exit crashes"]
    benchlib.print_table("digits on CPU: 1 vs 2 data-parallel processes", columns, table, caption)
    benchlib.save_json(args.json, {"settings": vars(args), "machine": machine, "runs": rows})


if __name__ == "__main__":
    main()

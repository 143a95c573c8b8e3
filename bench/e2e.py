"""Wall time of ``python train.py`` on digits, from the shell to the printed test accuracy, split into phases.

Each repetition is a fresh process, so imports count as a user pays them. The phases come from
bench/timed_train.py (train.py plus timestamps): ``import`` (interpreter start to litproj imported), ``build``
(config parsed, Trainer/model/datamodule built), ``data`` (datamodule set up), ``fit``, ``test`` (best
checkpoint reloaded and tested, confusion matrix drawn) and ``report`` (summary table, results.json,
interpreter exit). Interleaved with it runs the baseline, bench/lightning_baseline.py: the same job written by
hand with Lightning alone (same data, network size, epochs, TensorBoard, best + last checkpoints, test of the
best); the table ends with train.py's time as a multiple of it. ``--plain`` also times the literal ``python
train.py`` as a check that the timestamps cost nothing; ``--shutdown_gc`` adds train.py with the interpreter's
shutdown collections put back (bench/shutdown_gc.py: what litproj.cli.quick_exit saves); ``--compare_env`` adds a
variant with extra environment variables (e.g. ``OMP_WAIT_POLICY=PASSIVE``), interleaved with the default.

    python bench/e2e.py                       # 5 repetitions of the default run
    python bench/e2e.py --quick               # 1 repetition of a 1-epoch run (smoke test)
    python bench/e2e.py --compare_env OMP_NUM_THREADS=1 --plain
    python bench/e2e.py --env OMP_NUM_THREADS=1 --plain --shutdown_gc
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import benchlib
from benchlib import PHASES

BASELINE = "Lightning by hand"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = benchlib.train_script_parser(__doc__.split("\n\n")[0], reps=5)
    parser.add_argument("--plain", action="store_true", help="also time the literal `python train.py`")
    parser.add_argument("--compare_env", action="append", default=[], help="KEY=VALUE for an extra variant")
    parser.add_argument(
        "--shutdown_gc", action="store_true", help="also time train.py with shutdown's collector passes put back"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    base_env, extra_env = benchlib.env_pairs(args.env), benchlib.env_pairs(args.compare_env)
    train_args = ["--trainer.max_epochs", "1", *args.train_args] if args.quick else list(args.train_args)
    reps = 1 if args.quick else args.reps
    workdir = Path(tempfile.mkdtemp(prefix="litproj-e2e-"))
    timed, plain = benchlib.ROOT / "bench" / "timed_train.py", benchlib.ROOT / "train.py"
    rows: dict[str, list[dict]] = {}

    def variant(name: str, script: Path, env: dict[str, str]):
        def call() -> float:
            row = benchlib.run_timed(script, train_args, env, workdir)
            rows.setdefault(name, []).append(row)
            return row["total"]

        return call

    baseline = benchlib.ROOT / "bench" / "lightning_baseline.py"
    variants = {
        "train.py (timed)": variant("train.py (timed)", timed, base_env),
        BASELINE: variant(BASELINE, baseline, base_env),
    }
    if args.plain:
        variants["train.py"] = variant("train.py", plain, base_env)
    if args.shutdown_gc:  # what litproj.cli.quick_exit saves
        shutdown_gc = benchlib.ROOT / "bench" / "shutdown_gc.py"
        variants["train.py + shutdown gc"] = variant("train.py + shutdown gc", shutdown_gc, base_env)
    if extra_env:
        label = "timed + " + " ".join(f"{k}={v}" for k, v in extra_env.items())
        variants[label] = variant(label, timed, {**base_env, **extra_env})
    benchlib.interleave(variants, reps=reps, warmup=0)
    report(args, train_args, rows, base_env)


def report(args, train_args: list[str], rows: dict[str, list[dict]], base_env: dict[str, str]) -> None:
    columns = ["variant", "total s", "min–max", "CPU s", *[f"{p} s" for p in PHASES], "test acc"]
    table = []
    for name, reps in rows.items():
        totals = [r["total"] for r in reps]
        phases = [f"{benchlib.median([r[p] for r in reps]):.2f}" if p in reps[0] else "" for p in PHASES]
        accuracy = min(r["test/acc"] for r in reps)
        cpu = [r["cpu"] for r in reps if r.get("cpu") is not None]
        cpu_cell = f"{benchlib.median(cpu):.2f}" if cpu else ""
        table.append(
            [name, f"{benchlib.median(totals):.2f}", benchlib.spread(totals), cpu_cell, *phases, f"{accuracy:.4f}"]
        )
    machine = benchlib.machine()
    env = " ".join(f"{k}={v}" for k, v in base_env.items())
    caption = (
        f"python train.py {' '.join(train_args)} {env}; median of {len(next(iter(rows.values())))} runs "
        f"(phases: medians each; test acc: the lowest run); {machine['cores']} cores, {machine['cpu']}, "
        f"load {machine['load_average_1min']:.1f}"
    )
    benchlib.print_table("python train.py end to end", columns, table, caption)
    medians = {name: benchlib.median([r["total"] for r in reps]) for name, reps in rows.items()}
    print(f"train.py / {BASELINE} = {medians['train.py (timed)'] / medians[BASELINE]:.3f} (wall)")
    if all(r.get("cpu") is not None for reps in rows.values() for r in reps):
        cpu = {name: benchlib.median([r["cpu"] for r in reps]) for name, reps in rows.items()}
        ratio = cpu["train.py (timed)"] / cpu[BASELINE]
        print(f"train.py / {BASELINE} = {ratio:.3f} (CPU time, steadier on a busy machine)")
    payload = {"settings": vars(args), "machine": machine, "runs": rows}
    benchlib.save_json(args.json, payload)


if __name__ == "__main__":
    main()

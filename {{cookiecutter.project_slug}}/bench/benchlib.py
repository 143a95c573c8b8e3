"""What every benchmark script shares: interleaved repetitions, medians, the machine, a rich table.

The machine these run on is shared and noisy, so every script measures its variants in one
invocation, interleaved (the order rotates each repetition), and reports medians and ratios to a
baseline measured in the same run rather than absolute numbers alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

try:
    import resource  # CPU time of child processes; POSIX only
except ImportError:  # Windows: wall time only
    resource = None  # type: ignore[assignment]
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
#: What bench/timed_train.py timestamps, in order; ``report`` runs to the process's exit.
PHASES = ["import", "build", "data", "fit", "test", "report"]


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> dict:
    """Where the numbers came from: cores, CPU, GPU, library versions and the load while measuring.

    torch is asked about the GPU only when this process imported it already (the subprocess-based scripts
    need not pay its import).
    """
    torch = sys.modules.get("torch")
    gpu = torch.cuda.get_device_name(0) if torch is not None and torch.cuda.is_available() else None
    return {
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu_model(),
        "gpu": gpu,
        "torch": metadata.version("torch"),
        "pytorch_lightning": metadata.version("pytorch-lightning"),
        "python": platform.python_version(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def interleave(variants: dict[str, Callable[[], float]], reps: int, warmup: int = 1) -> dict[str, list[float]]:
    """Run every variant ``warmup + reps`` times, rotating the order each round; keep the last ``reps``.

    Each callable returns the seconds it wants counted (so set-up outside the timed part is free).
    Rotation spreads slow spells of a shared machine over all variants instead of one.
    """
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(warmup + reps):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            seconds = variants[name]()
            if round_ >= warmup:
                times[name].append(seconds)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    """min–max of the repetitions, to show how noisy the machine was."""
    return f"{min(values):.2f}–{max(values):.2f}"


class Stopwatch:
    """``with Stopwatch() as watch: ...`` then ``watch.seconds`` (wall) and ``watch.cpu_seconds``.

    CPU seconds (all threads of this process) are the steadier measure on a shared machine: waiting for
    a core does not count, the work done does. With one thread they approximate the idle wall time.
    """

    def __enter__(self) -> Stopwatch:
        self.start, self.cpu_start = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start
        self.cpu_seconds = time.process_time() - self.cpu_start


def print_table(title: str, columns: list[str], rows: list[list[str]], caption: str | None = None) -> None:
    table = Table(title=title, caption=caption)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=120).print(table)


def save_json(path: str | None, payload: dict) -> None:
    """Write the raw numbers (every repetition, the machine) for docs/benchmarks.md or a later comparison."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"raw numbers: {path}")


def train_script_parser(description: str, reps: int) -> argparse.ArgumentParser:
    """The options of every benchmark that runs ``train.py`` in fresh processes (scripts add their own)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--reps", type=int, default=reps, help=f"repetitions per variant (default {reps})")
    parser.add_argument("--quick", action="store_true", help="1 repetition of a 1-epoch run: a smoke test")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for every run (repeatable)")
    parser.add_argument("--json", help="also write every repetition and the machine to this JSON file")
    parser.add_argument("train_args", nargs="*", help="extra arguments for train.py (after --)")
    return parser


def env_pairs(items: list[str]) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` from the command line as a dict (exits with a one-line error otherwise)."""
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            sys.exit(f"error: --env/--compare_env expects KEY=VALUE, got '{item}'.")
        pairs[key] = value
    return pairs


def run_timed(script: Path, train_args: list[str], env: dict[str, str], workdir: Path) -> dict:
    """One ``python SCRIPT --runs_dir WORKDIR/runs ARGS`` process, timed from spawn to exit.

    Returns total wall seconds, CPU seconds (user + system of the process and its children: steadier than
    wall time on a busy machine), the phases bench/timed_train.py recorded (when ``script`` is it), test
    accuracy, train samples and the exit code. A process that died after writing its results (the gloo
    exit crash of CPU DDP, see docs/benchmarks.md) is kept and flagged by its exit code; any other failure
    stops the benchmark.
    """
    phases_file = workdir / f"phases-{time.monotonic_ns()}.json"
    env = {**os.environ, **env, "{{ cookiecutter.package_name | upper }}_BENCH_PHASES": str(phases_file)}
    command = [sys.executable, str(script), "--runs_dir", str(workdir / "runs"), *train_args]
    env["{{ cookiecutter.package_name | upper }}_BENCH_T0"] = repr(time.time())
    before = resource.getrusage(resource.RUSAGE_CHILDREN) if resource else None
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir)
    total = time.perf_counter() - start
    cpu = None
    if resource and before:
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = done.stdout.strip().splitlines()
    if not lines or not lines[-1].startswith("results: "):
        sys.exit(f"error: {' '.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    results = json.loads(Path(lines[-1].removeprefix("results: ")).read_text(encoding="utf-8"))
    row = {"total": total, "cpu": cpu, "test/acc": results["metrics"].get("test/acc"), "returncode": done.returncode}
    if phases_file.is_file():
        payload = json.loads(phases_file.read_text(encoding="utf-8"))
        marks, previous = payload["marks"], payload["t0"]
        for phase in PHASES[:-1]:
            row[phase] = marks[phase] - previous
            previous = marks[phase]
        row["report"] = payload["t0"] + total - previous
        row["train"] = marks["fit"] - marks["train_start"]
        row["train_samples"] = marks["train_samples_per_rank"] * marks["world_size"]
    return row

"""What a run leaves behind for people (a rich table) and for tools (``results.json`` + its path)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table


def _checkpoint_paths(trainer) -> tuple[str | None, str | None]:
    callback = trainer.checkpoint_callback
    if callback is None:
        return None, None
    last = Path(callback.dirpath or "") / "last.ckpt"
    return callback.best_model_path or None, str(last) if last.exists() else None


def _extras(trainer) -> dict:
    """Sections that callbacks contribute through a ``litproj_report()`` method (e.g. OOM retries)."""
    extras: dict = {}
    for callback in trainer.callbacks:
        if hasattr(callback, "litproj_report"):
            extras.update(callback.litproj_report())
    return extras


def collect_results(trainer, cli, stage: str, metrics: dict[str, float]) -> dict:
    """The results dict written to ``results.json``."""
    best, last = _checkpoint_paths(trainer)
    datamodule = cli.datamodule
    results = {
        "stage": stage,
        "experiment": cli.config.name,
        "metrics": dict(sorted(metrics.items())),
        "best_checkpoint": best,
        "last_checkpoint": last,
        "run_dir": str(cli.run_dir),
        "global_step": trainer.global_step,
        "epochs": trainer.current_epoch,
        "data": datamodule.report() if hasattr(datamodule, "report") else {},
        **_extras(trainer),
    }
    return results


def write_results(results: dict) -> Path:
    path = Path(results["run_dir"]) / "results.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def print_summary(results: dict, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"litproj · {results['experiment']} · {results['stage']}", show_header=False)
    table.add_column(style="bold cyan")
    table.add_column()
    for key, value in results["metrics"].items():
        if key.startswith(("test", "val")):
            table.add_row(key, f"{value:.4f}")
    table.add_row("steps / epochs", f"{results['global_step']} / {results['epochs']}")
    for key, value in results.get("data", {}).items():
        table.add_row(f"data: {key}", str(value))
    for key, section in results.items():  # sections callbacks added (oom_recovery, memory, ...) with a summary
        if isinstance(section, dict) and "summary" in section:
            table.add_row(key.replace("_", " "), str(section["summary"]))
    for label, key in (("best checkpoint", "best_checkpoint"), ("last checkpoint", "last_checkpoint")):
        if results.get(key):
            table.add_row(label, results[key])
    if results.get("predictions"):
        table.add_row("predictions", results["predictions"])
    table.add_row("run directory", results["run_dir"])
    table.add_row("look at it", f"tensorboard --logdir {results['run_dir']}")
    console.print(table)


def report(results: dict) -> Path:
    """Write ``results.json``, print the summary, and end with the line tools read: ``results: <path>``."""
    path = write_results(results)
    print_summary(results)
    print(f"results: {path}", flush=True)
    return path


def print_presets(presets: dict[str, str]) -> None:
    table = Table(title="strategy presets (python train.py --strategy NAME)")
    table.add_column("preset", style="bold cyan")
    table.add_column("what it does · what it needs")
    for name, description in presets.items():
        table.add_row(name, description)
    Console().print(table)

"""What a run leaves behind for people (a rich table) and for tools (``results.json`` + its path)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table


def collect_results(trainer, cli, stage: str, metrics: dict[str, float]) -> dict:
    """The results dict written to ``results.json``; callbacks add sections through a ``litproj_report()``."""
    callback = trainer.checkpoint_callback
    last = Path(callback.dirpath or "") / "last.ckpt" if callback is not None else None
    results = {
        "stage": stage,
        "experiment": cli.config.name,
        "metrics": dict(sorted(metrics.items())),
        "best_checkpoint": (callback.best_model_path or None) if callback is not None else None,
        "last_checkpoint": str(last) if last is not None and last.exists() else None,
        "run_dir": str(cli.run_dir),
        "global_step": trainer.global_step,
        "epochs": trainer.current_epoch,
        "data": cli.datamodule.report() if hasattr(cli.datamodule, "report") else {},
    }
    for extra in trainer.callbacks:  # e.g. OOM retries, predictions, trackers
        if hasattr(extra, "litproj_report"):
            results.update(extra.litproj_report())
    return results


def print_summary(results: dict) -> None:
    table = Table(title=f"litproj · {results['experiment']} · {results['stage']}", show_header=False)
    table.add_column(style="bold cyan")
    table.add_column()
    for key, value in results["metrics"].items():
        if key.startswith(("test", "val")) and not key.startswith(("test/acc_", "test/f1_")):  # per class: json
            table.add_row(key, f"{value:.4f}")
    table.add_row("steps / epochs", f"{results['global_step']} / {results['epochs']}")
    for key, value in results.get("data", {}).items():
        table.add_row(f"data: {key}", str(value))
    for key, section in results.items():  # sections callbacks added (oom_recovery, memory, ...) with a summary
        if isinstance(section, dict) and "summary" in section:
            table.add_row(key.replace("_", " "), str(section["summary"]))
    for key in ("best_checkpoint", "last_checkpoint", "predictions"):
        if results.get(key):
            table.add_row(key.replace("_", " "), results[key])
    table.add_row("run directory", results["run_dir"])
    table.add_row("look at it", f"tensorboard --logdir {results['run_dir']}")
    Console().print(table)


def write_results(results: dict) -> Path:
    """``results.json`` in the run folder ``results`` names."""
    path = Path(results["run_dir"]) / "results.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return path


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

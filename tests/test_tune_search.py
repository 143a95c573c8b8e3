"""Searches on Ray Tune with tiny trials (digits, 2-3 short epochs) on one shared 2-CPU Ray session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from litproj.tune.runner import run as tune
from tests.helpers import ROOT, train

ray = pytest.importorskip("ray")

TINY = ["--trainer.max_epochs", "3", "--trainer.limit_train_batches", "4", "--trainer.limit_val_batches", "3"]
HAS_BOHB = all(__import__("importlib").util.find_spec(m) for m in ("hpbandster", "ConfigSpace"))


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    """One Ray start for all searches in this module (a start costs seconds); tune.py joins it."""
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def search(tmp_path: Path, *args: str) -> dict:
    return tune([*args, *TINY, "--runs_dir", str(tmp_path / "runs")])


def space(tmp_path: Path, text: str) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def tune_command(flags: str, *args: str) -> list[str]:
    """``python tune.py FLAGS ARGS`` as a subprocess command (exit code and output as a user sees them)."""
    return [sys.executable, str(ROOT / "tune.py"), *flags.split(), *args]


def trials(result: dict) -> list[dict]:
    return json.loads((Path(result["search_dir"]) / "search.json").read_text(encoding="utf-8"))["trials"]


def test_random_asha_stops_trials_early_and_best_yaml_reproduces_the_best_trial(tmp_path):
    # Two hopeless learning rates first: ASHA must stop them after one epoch.
    lrs = space(tmp_path, "model.lr: {grid: [1.0e-5, 2.0e-5, 1.0e-2, 2.0e-2]}\n")
    result = search(tmp_path, "--search", "random", "--scheduler", "asha", "--space", lrs, "--num_samples", "1")
    assert result["trials"] == 4
    assert result["states"].get("stopped early", 0) >= 1
    assert result["epochs_total"] < 4 * 3
    assert result["best_values"]["model.lr"] in (1.0e-2, 2.0e-2)
    assert Path(result["search_dir"]).is_relative_to(tmp_path / "runs" / "tune")
    best = yaml.safe_load(Path(result["best_config"]).read_text(encoding="utf-8"))
    assert best["model"]["init_args"]["lr"] == result["best_values"]["model.lr"]
    assert best["trainer"]["max_epochs"] == 3
    rerun = train(tmp_path / "again", "fit", "--config", result["best_config"])
    best_trial = next(t for t in trials(result) if t["trial_id"] == result["best_trial"])
    assert rerun["metrics"]["val/acc"] == pytest.approx(best_trial["last"], abs=0.02)
    assert rerun["experiment"] == "best"


@pytest.mark.slow  # over a minute on 2 cores: runs in CI's slow pass
def test_grid_fifo_runs_every_point_to_the_end(tmp_path):
    grid = space(tmp_path, "model.lr: {grid: [3.0e-3, 1.0e-2]}\ndata.batch_size: {choice: [32, 64]}\n")
    result = search(tmp_path, "--search", "grid", "--scheduler", "fifo", "--space", grid)
    points = sorted((t["values"]["model.lr"], t["values"]["data.batch_size"]) for t in trials(result))
    assert points == [(3.0e-3, 32), (3.0e-3, 64), (1.0e-2, 32), (1.0e-2, 64)]
    assert result["states"] == {"finished": 4}
    assert result["epochs_total"] == 4 * 3
    run_dirs = [Path(t["run_dir"]) for t in trials(result)]
    assert all((d / "checkpoints" / "last.ckpt").is_file() and list(d.glob("events.out.tfevents.*")) for d in run_dirs)
    assert hparams(run_dirs[0]) == {"model.lr", "data.batch_size"}  # TensorBoard's HParams view shows the search


def hparams(run_dir: Path) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    events = EventAccumulator(str(run_dir))
    events.Reload()
    start = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    return set(HParamsPluginData.FromString(start).session_start_info.hparams)


@pytest.mark.slow
def test_optuna_with_hyperband(tmp_path):
    result = search(tmp_path, "--search", "optuna", "--scheduler", "hyperband", "--num_samples", "3")
    assert result["trials"] == 3
    assert result["best_value"] > 0.5
    assert set(result["best_values"]) == {
        "model.lr",
        "model.weight_decay",
        "model.label_smoothing",
        "data.batch_size",
        "model.backbone",
    }


@pytest.mark.slow
def test_hyperopt_with_fifo(tmp_path):
    result = search(tmp_path, "--search", "hyperopt", "--scheduler", "fifo", "--num_samples", "3")
    assert result["states"] == {"finished": 3}
    assert result["best_values"]["data.batch_size"] in (32, 64, 96, 128)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_BOHB, reason="BOHB needs the bohb extra (hpbandster, ConfigSpace)")
def test_bohb_with_its_hyperband(tmp_path):
    result = search(tmp_path, "--search", "bohb", "--num_samples", "4")
    assert result["scheduler"] == "hyperband"
    assert result["trials"] == 4
    # BOHB's HyperBand gives these tiny trials a budget of a few hundred samples: measured 0.256 best
    # val/acc; twice chance (10 classes) shows the trials learned.
    assert result["best_value"] > 0.2


@pytest.mark.slow  # over a minute on 2 cores: runs in CI's slow pass
def test_pbt_exploits_better_trials(tmp_path):
    result = search(
        tmp_path, "--search", "random", "--scheduler", "pbt", "--num_samples", "4", "--trainer.max_epochs", "4"
    )
    assert result["exploits"] >= 1
    assert result["states"] == {"finished": 4}
    exploited = [
        p for p in Path(result["search_dir"]).glob("pbt_policy_*.txt") if p.read_text(encoding="utf-8").strip()
    ]
    assert exploited


@pytest.mark.slow  # over a minute on 2 cores: runs in CI's slow pass
def test_crashing_trial_is_retried_reported_and_does_not_stop_the_search(tmp_path):
    nets = space(tmp_path, "model.backbone: {grid: [small_cnn, no_such_net]}\n")
    result = search(tmp_path, "--search", "grid", "--scheduler", "fifo", "--space", nets, "--max_failures", "1")
    assert result["states"] == {"finished": 1, "failed": 1}
    failed = next(t for t in trials(result) if t["status"] == "ERROR")
    assert "no_such_net" in failed["error"]
    assert failed["failures"] == 2  # the first try and one retry
    assert result["best_values"] == {"model.backbone": "small_cnn"}


@pytest.mark.slow
def test_acceptance_command_line_and_best_config_round_trip(tmp_path):
    command = tune_command("--search random --scheduler asha --num_samples 4 --trainer.max_epochs 3")
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("best config: ")
    best = Path(last.removeprefix("best config: "))
    assert best.is_file() and best.is_relative_to(tmp_path / "runs" / "tune" / "random_asha")
    again = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--config", str(best), "--trainer.enable_progress_bar", "false"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1].startswith("results: ")


@pytest.mark.slow
def test_resume_after_interrupt_completes_without_rerunning_finished_trials(tmp_path):
    command = tune_command("--search random --scheduler fifo --num_samples 4 --max_concurrent 1", *TINY)
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    search_dir = tmp_path / "runs" / "tune" / "random_fifo" / "version_0"
    deadline = time.monotonic() + 300
    while not list(search_dir.glob("*/version_0/results.json")) and time.monotonic() < deadline:
        time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode != 0, out
    assert f"python tune.py --resume {search_dir}" in err
    done_before = {p.parts[-3] for p in search_dir.glob("*/version_0/results.json")}
    assert 1 <= len(done_before) < 4
    result = tune(["--resume", str(search_dir)])
    assert result["trials"] == 4 and result["states"] == {"finished": 4}
    for trial_id in done_before:
        assert not (search_dir / trial_id / "version_1").exists()  # finished trials were not run again


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="two DDP workers need two CPUs")
def test_trial_with_two_ddp_workers_through_ray_train(tmp_path):
    result = search(tmp_path, "--search", "random", "--scheduler", "fifo", "--num_samples", "1", "--trial_workers", "2")
    assert result["states"] == {"finished": 1}
    run_dir = Path(trials(result)[0]["run_dir"])
    saved = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    assert saved["trainer"]["strategy"]["class_path"].endswith("RayDDPStrategy")

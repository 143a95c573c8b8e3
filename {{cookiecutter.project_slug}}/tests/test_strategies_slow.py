"""End-to-end strategy runs through ``python train.py`` (slow: full trainings, repeated and multi-node runs)."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import QUIET, ROOT, train_subprocess, write_image_folder

pytestmark = pytest.mark.slow

TINY = [
    "--trainer.accelerator", "cpu",
    "--trainer.max_epochs", "1",
    "--trainer.limit_train_batches", "2",
    "--trainer.limit_val_batches", "1",
    "--trainer.limit_test_batches", "1",
    "--trainer.num_sanity_val_steps", "0",
]  # fmt: skip
RESULT_KEYS = {"stage", "metrics", "best_checkpoint", "last_checkpoint", "run_dir", "global_step", "epochs"}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1"]


def run_stage(tmp_path: Path, stage: str, *args: str) -> subprocess.CompletedProcess:
    """``python train.py STAGE ARGS`` in a subprocess (the subcommand must come first)."""
    command = [sys.executable, str(ROOT / "train.py"), stage, "--runs_dir", str(tmp_path / "runs"), *QUIET, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)


def reported_results(done: subprocess.CompletedProcess, cwd: Path) -> dict:
    """The run's results.json, after checking rank 0 alone reported it, on the last line of stdout."""
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("results: ")]
    assert len(lines) == 1, done.stdout[-3000:]
    assert done.stdout.strip().splitlines()[-1] == lines[0]
    results = json.loads((cwd / lines[0].removeprefix("results: ")).read_text(encoding="utf-8"))
    assert results.keys() >= RESULT_KEYS
    return results


@pytest.mark.parametrize(
    "preset,devices,steps_per_epoch",
    [("ddp", 2, 10), ("ddp_spawn", 2, 10), ("fsdp", 2, 10), ("model_split", 1, 20)],
)
def test_preset_reaches_accuracy_with_its_default_epochs(tmp_path, preset, devices, steps_per_epoch):
    done = train_subprocess(tmp_path, "--strategy", preset, "--trainer.accelerator", "cpu", "--trainer.devices",
                            str(devices), timeout=1800)  # fmt: skip
    results = reported_results(done, tmp_path)
    assert results["metrics"]["test/acc"] >= 0.95
    # Each of 2 ranks reads half of the 1257 training images per epoch: half the steps at twice the batch.
    assert results["global_step"] == results["epochs"] * steps_per_epoch
    assert (Path(results["run_dir"]) / "config.yaml").is_file()


def test_ddp_exits_cleanly_ten_times_in_a_row(tmp_path):
    for attempt in range(10):
        done = train_subprocess(tmp_path, "--strategy", "ddp", "--trainer.devices", "2", *TINY)
        assert done.returncode == 0, f"run {attempt}: exit {done.returncode}\n{done.stderr[-2000:]}"
        assert "terminate called" not in done.stderr


def test_fsdp_sharded_checkpoints_load_for_test_predict_and_resume(tmp_path):
    fsdp = ["--strategy", "fsdp", "--trainer.devices", "2", *TINY]
    first = reported_results(run_stage(tmp_path, "fit", *fsdp, "--name", "sharded"), tmp_path)
    best = Path(first["best_checkpoint"])
    assert best.is_dir() and len(list(best.glob("*.distcp"))) == 2
    tested = reported_results(run_stage(tmp_path, "test", "--ckpt_path", str(best)), tmp_path)
    assert 0.0 <= tested["metrics"]["test/acc"] <= 1.0
    images = write_image_folder(tmp_path / "predict", classes=2, per_class=3, size=8)
    # One process reading the two-shard checkpoint: the shards are re-assembled for the new world size.
    predicted = reported_results(
        run_stage(
            tmp_path, "predict", "--ckpt_path", str(best), "--trainer.devices", "1", "--data.predict_dir", str(images)
        ),
        tmp_path,
    )
    assert len(Path(predicted["predictions"]).read_text(encoding="utf-8").splitlines()) == 1 + 6
    # Two ranks share 7 images (the sampler pads one rank's share): still one CSV, one row per image.
    seven = write_image_folder(tmp_path / "predict7", classes=1, per_class=7, size=8)
    both_ranks = reported_results(
        run_stage(
            tmp_path,
            "predict",
            "--ckpt_path",
            str(best),
            *fsdp[:4],
            "--trainer.accelerator",
            "cpu",
            "--data.predict_dir",
            str(seven),
        ),
        tmp_path,
    )
    with open(both_ranks["predictions"], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["file"] for row in rows) == sorted(str(p) for p in seven.rglob("*") if p.is_file())
    assert not list(Path(both_ranks["run_dir"]).glob(".predictions_rank*"))
    resumed = reported_results(
        train_subprocess(tmp_path, *fsdp, "--name", "sharded", "--ckpt_path", "last", "--trainer.max_epochs", "2"),
        tmp_path,
    )
    assert resumed["run_dir"] == first["run_dir"] and resumed["global_step"] == 4


def test_fsdp_shards_a_user_module_without_configure_model(tmp_path):
    """VectorClassifier never imported {{ cookiecutter.package_name }} and has no configure_model: the strategy shards it itself."""
    byo = ["--model", "tests.byo.models.VectorClassifier", "--data", "tests.byo.data.DigitsVectors",
           "--checkpoint.monitor", "val_loss", "--checkpoint.mode", "min"]  # fmt: skip
    fsdp = ["--strategy", "fsdp", "--trainer.devices", "2", *TINY, *byo]
    first = reported_results(train_subprocess(tmp_path, *fsdp, "--trainer.strategy.activation_checkpointing", "true"),
                             tmp_path)  # fmt: skip
    assert first["global_step"] == 2 and "test_acc" in first["metrics"]
    best = Path(first["best_checkpoint"])
    assert best.is_dir() and len(list(best.glob("*.distcp"))) == 2  # one shard per rank
    tested = reported_results(run_stage(tmp_path, "test", "--ckpt_path", str(best)), tmp_path)
    assert 0.0 <= tested["metrics"]["test_acc"] <= 1.0


def test_model_split_user_module_checkpoint_tests_unsplit(tmp_path):
    """A split run's checkpoint has the unsplit keys: ``test --ckpt_path`` loads it without the strategy."""
    byo = ["--model", "tests.byo.models.EncoderHead", "--data", "tests.byo.data.DigitsVectors",
           "--checkpoint.monitor", "val_loss", "--checkpoint.mode", "min"]  # fmt: skip
    split = ["--strategy", "model_split", "--trainer.strategy.stages", "encoder,head", *TINY, *byo]
    first = reported_results(train_subprocess(tmp_path, *split), tmp_path)
    tested = reported_results(
        run_stage(tmp_path, "test", "--ckpt_path", first["best_checkpoint"], "--strategy", "auto", *byo), tmp_path
    )
    assert tested["metrics"]["test_acc"] == pytest.approx(first["metrics"]["test_acc"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_join_and_train_with_torchrun(tmp_path):
    """Two torchrun "nodes" of one process each on localhost form one world of 2 and split the data."""
    port = str(_free_port())
    train = [str(ROOT / "train.py"), "--runs_dir", str(tmp_path / "runs"), *QUIET, "--strategy", "ddp"]
    train += ["--trainer.num_nodes", "2", "--trainer.devices", "1", *TINY, "--trainer.limit_train_batches", "1.0"]
    address = ["--master_addr", "127.0.0.1", "--master_port", port]
    scratch = tmp_path / "tmp"  # where node 1's rank, started without the run folder, keeps its scratch folder
    scratch.mkdir()
    nodes = [
        subprocess.Popen(
            [*TORCHRUN, "--node_rank", str(rank), *address, *train],
            cwd=tmp_path,
            env={**os.environ, "TMPDIR": str(scratch)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=900) for node in nodes]
    for node, (_, err) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, err[-3000:]
    head = subprocess.CompletedProcess([], 0, outputs[0][0], outputs[0][1])
    results = reported_results(head, tmp_path)
    assert results["global_step"] == 10  # 1257 images, batch 64, 2 ranks: 10 steps each, so both trained
    assert "results: " not in outputs[1][0]  # only global rank 0 reports
    assert not list(scratch.glob("{{ cookiecutter.package_name }}-rank-*"))  # and leaves nothing behind

"""``torchrun --nproc_per_node 2 train.py predict --ckpt_path best --data.predict_dir DIR``: the two ranks split
the images, rank 0 writes one ``predictions.csv`` with one row per image, in one run folder both ranks agree on."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

from litproj.strategies.torchrun import torchrun_world
from tests.helpers import QUIET, ROOT, train, write_image_folder


@pytest.mark.slow
def test_torchrun_predict_writes_one_row_per_image(tmp_path):
    train(tmp_path, "fit", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3")
    images = write_image_folder(tmp_path / "images", classes=3, per_class=3, size=8)  # 9: uneven over 2 ranks
    files = sorted(str(p) for p in images.rglob("*") if p.is_file())
    scratch = tmp_path / "tmp"  # rank 1's scratch folder (torchrun does not hand it the run folder)
    scratch.mkdir()
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(ROOT / "train.py")]
    command += ["predict", "--ckpt_path", "best", "--data.predict_dir", str(images)]
    command += ["--runs_dir", str(tmp_path / "runs"), *QUIET, "--trainer.accelerator", "cpu"]
    env = {**os.environ, "TMPDIR": str(scratch), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    written = list((tmp_path / "runs").rglob("predictions.*"))
    assert [p.name for p in written] == ["predictions.csv"], written
    with written[0].open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["file"] for row in rows) == files  # each image once: the sampler's repeat dropped
    runs = sorted(p.name for p in (tmp_path / "runs" / "default").iterdir())
    assert runs == ["version_0", "version_1"]  # the fit, and one predict folder for both ranks
    assert written[0].parent.name == "version_1"
    assert len([line for line in done.stdout.splitlines() if line.startswith("results: ")]) == 1
    assert not list(scratch.glob("litproj-rank-*"))


def test_devices_and_nodes_follow_torchrun_unless_given(monkeypatch):
    config = {"devices": 1, "num_nodes": 1, "max_epochs": 3}
    assert torchrun_world(config, False, False) == config  # not launched by torchrun: untouched
    launched = {"TORCHELASTIC_RUN_ID": "x", "RANK": "1", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    for name, value in launched.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert torchrun_world(config, False, False) == {"devices": 2, "num_nodes": 2, "max_epochs": 3}
    assert torchrun_world(config, True, True) == config  # flags on the command line win; Lightning checks them

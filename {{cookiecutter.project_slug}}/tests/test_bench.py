"""The fast data path, the progress-bar cadence, and the benchmark scripts in their quick modes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, Subset, TensorDataset

from {{ cookiecutter.package_name }}.cli.runner import run
from {{ cookiecutter.package_name }}.data import DigitsDataModule
from {{ cookiecutter.package_name }}.data.digits import load_digits_arrays
from {{ cookiecutter.package_name }}.data.in_memory import InMemoryDataset, fits_on_device, on_device, resident_device, whole_batch
from {{ cookiecutter.package_name }}.module import ImageClassifier
from tests.helpers import ROOT, train


def _bench(tmp_path, script: str, *args: str, timeout: float = 300) -> dict:
    """Run ``bench/SCRIPT --quick --json FILE ARGS`` and return its JSON."""
    out = tmp_path / "bench.json"
    command = [sys.executable, str(ROOT / "bench" / script), "--quick", "--json", str(out), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8"))


def test_in_memory_batches_equal_per_sample_batches():
    x, y = torch.randn(100, 1, 4, 4), torch.randint(0, 10, (100,))
    fast = DataLoader(Subset(InMemoryDataset(x, y), range(10, 90)), batch_size=16, collate_fn=whole_batch)
    slow = DataLoader(Subset(TensorDataset(x, y), range(10, 90)), batch_size=16)
    pairs = list(zip(fast, slow, strict=True))
    assert len(pairs) == 5
    for (fx, fy), (sx, sy) in pairs:
        assert torch.equal(fx, sx) and torch.equal(fy, sy)


def test_in_memory_dataset_shards_across_ranks_without_overlap():
    """Lightning's DistributedSampler still decides the samples: two ranks together see each sample once."""
    dataset = InMemoryDataset(torch.arange(128).float(), torch.arange(128))
    seen = []
    for rank in (0, 1):
        sampler = DistributedSampler(dataset, num_replicas=2, rank=rank, shuffle=True, seed=3)
        loader = DataLoader(dataset, batch_size=16, sampler=sampler, collate_fn=whole_batch)
        seen += [int(i) for _, labels in loader for i in labels]
    assert sorted(seen) == list(range(128))


def test_digits_read_without_sklearn_match_load_digits():
    from sklearn.datasets import load_digits

    images, labels = load_digits_arrays()
    digits = load_digits()
    np.testing.assert_array_equal(images, digits.images)
    np.testing.assert_array_equal(labels, digits.target)


def test_digits_loader_serves_whole_batches():
    data = DigitsDataModule(batch_size=64)
    data.setup("fit")
    batches = list(data.train_dataloader())
    assert len(batches) == 20
    assert batches[0][0].shape == (64, 1, 8, 8) and batches[0][0].dtype == torch.float32
    assert sum(len(y) for _, y in batches) == len(data.train_set) == 1258
    assert data._workers(in_memory=True, device=torch.device("cuda", 0)) == 0  # even on a GPU


def test_device_residency_is_only_for_in_memory_data_on_a_gpu():
    dataset = InMemoryDataset(torch.zeros(10, 3), torch.zeros(10, dtype=torch.long))
    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    assert resident_device(dataset, cpu, True) is None
    assert resident_device(TensorDataset(torch.zeros(10)), gpu, True) is None
    assert resident_device(Subset(dataset, [1, 2]), gpu, False) is None
    assert resident_device(Subset(dataset, [1, 2]), gpu, True) == gpu
    assert fits_on_device(1 << 30, 8 << 30) and not fits_on_device(3 << 30, 8 << 30)
    moved = on_device(Subset(dataset, [1, 2]), cpu)
    assert isinstance(moved, Subset) and moved.indices == [1, 2] and moved.dataset.device == cpu


def test_channels_last_model_gives_the_same_outputs():
    torch.manual_seed(0)
    plain = ImageClassifier(in_channels=3, image_size=8).eval()
    torch.manual_seed(0)
    nhwc = ImageClassifier(in_channels=3, image_size=8, channels_last=True).eval()
    assert nhwc.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 8, 8)
    torch.testing.assert_close(nhwc(x), plain(x))


def test_synthetic_data_trains_above_chance(tmp_path):
    results = train(
        tmp_path,
        "--data",
        "{{ cookiecutter.package_name }}.data.SyntheticDataModule",
        "--data.num_samples",
        "640",
        "--data.image_size",
        "8",
        "--trainer.max_epochs",
        "3",
    )
    assert results["metrics"]["test/acc"] > 0.5  # 10 classes: chance is 0.1


def test_progress_bar_reads_metrics_at_the_logging_cadence(tmp_path, monkeypatch):
    from pytorch_lightning.callbacks import RichProgressBar

    reads = []
    original = RichProgressBar.get_metrics
    monkeypatch.setattr(RichProgressBar, "get_metrics", lambda self, *a: reads.append(1) or original(self, *a))
    run(["fit", "--runs_dir", str(tmp_path), "--trainer.max_epochs", "1", "--trainer.enable_model_summary", "false"])
    # 20 training steps, log_every_n_steps 10: steps 10 and 20 plus a few epoch/validation-end reads,
    # where Lightning's own bar reads after each of the 20 steps.
    assert 0 < len(reads) < 10


def test_overhead_quick(tmp_path):
    report = _bench(tmp_path, "overhead.py", "--threads", "1")
    assert set(report["seconds"]) == {"raw PyTorch", "bare Lightning", "{{ cookiecutter.package_name }}", "{{ cookiecutter.package_name }} (no monitors)", "floor"}
    assert all(len(v) == 1 and v[0] > 0 for v in report["seconds"].values())
    assert report["train_images_per_fit"] == 1258


def test_e2e_quick(tmp_path):
    report = _bench(tmp_path, "e2e.py", "--shutdown_gc")
    (row,) = report["runs"]["train.py (timed)"]
    assert row["returncode"] == 0 and row["test/acc"] > 0.1
    phases = [row[p] for p in ("import", "build", "data", "fit", "test", "report")]
    assert all(p >= 0 for p in phases) and row["fit"] > 0
    assert sum(phases) == pytest.approx(row["total"], rel=1e-6)
    (baseline,) = report["runs"]["Lightning by hand"]  # the hand-written Lightning script, interleaved
    assert baseline["returncode"] == 0 and baseline["test/acc"] > 0.1
    (collected,) = report["runs"]["train.py + shutdown gc"]  # train.py with shutdown's collections put back
    assert collected["returncode"] == 0 and collected["test/acc"] == row["test/acc"]


@pytest.mark.slow
def test_ddp_cpu_quick_shards_the_data(tmp_path):
    # One thread per process: on a busy machine torch's spinning OpenMP threads would dominate the run.
    report = _bench(tmp_path, "ddp_cpu.py", "--env", "OMP_NUM_THREADS=1", timeout=900)
    (single,) = report["runs"]["1 process"]
    (double,) = report["runs"]["2 processes (ddp, gloo)"]
    assert single["train_samples"] == 1258
    assert double["train_samples"] == 1258  # two ranks of 629: every sample once
    assert double["test/acc"] > 0.1

"""Unbalanced classes: counts per split on screen and on disk, a balanced sampler (also sharded under DDP),
inverse-frequency loss weights, and per-class accuracy and F1 at test."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch
from lightning_fabric.utilities.distributed import DistributedSamplerWrapper
from pytorch_lightning import Trainer

from litproj.cli.runner import main
from litproj.data.base import ClassificationDataModule
from litproj.data.in_memory import InMemoryDataset
from litproj.module import ImageClassifier
from tests.helpers import ROOT, train_subprocess

COUNTS = {"common": 800, "rare": 150, "rarer": 50}


class Skewed(ClassificationDataModule):
    """1,000 8x8 images, 80 % / 15 % / 5 % per class, each class a different brightness (learnable)."""

    image_size, in_channels, class_names = 8, 1, list(COUNTS)

    def make_splits(self):
        labels = torch.cat([torch.full((n,), i) for i, n in enumerate(COUNTS.values())])
        noise = torch.randn(len(labels), 1, 8, 8, generator=torch.Generator().manual_seed(0))
        images = labels.float().view(-1, 1, 1, 1) / 2 + 0.1 * noise
        few = [0, 1, 800, 950]  # val and test: two common, one rare, one rarer
        return tuple(InMemoryDataset(images[i], labels[i]) for i in (slice(None), few, few))


def attached(data: ClassificationDataModule, tmp_path) -> ClassificationDataModule:
    data.trainer = Trainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    return data


def test_counts_are_printed_in_one_line_and_saved(tmp_path, capsys):
    attached(Skewed(), tmp_path).setup("fit")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("class counts:")]
    assert lines == [
        "class counts: train 1000 (fewest 'rarer' 50, most 'common' 800), "
        "val 4 (fewest 'rare' 1, most 'common' 2), test 4 (fewest 'rare' 1, most 'common' 2)"
    ]
    saved = json.loads((tmp_path / "class_counts.json").read_text(encoding="utf-8"))
    assert saved["train"] == COUNTS and saved["test"] == {"common": 2, "rare": 1, "rarer": 1}


def draws(data: ClassificationDataModule) -> Counter:
    return Counter(int(y) for _, labels in data.train_dataloader() for y in labels)


def test_sampler_draws_every_class_about_equally_often(tmp_path):
    plain = attached(Skewed(), tmp_path)
    plain.setup("fit")
    assert draws(plain)[2] == 50  # without it, one epoch holds 5 % of the rarest class
    balanced = attached(Skewed(balance="sampler"), tmp_path)
    balanced.setup("fit")
    counted = draws(balanced)
    assert sum(counted.values()) == 1000  # the epoch keeps its length
    assert all(abs(counted[c] / 1000 - 1 / 3) < 0.06 for c in range(3)), counted  # 4 standard deviations


def test_sampler_shards_into_one_epoch_under_ddp(tmp_path):
    """What Lightning does with a custom sampler under DDP: ``DistributedSamplerWrapper`` on every rank."""
    data = attached(Skewed(balance="sampler"), tmp_path)
    data.setup("fit")
    ranks = []
    for rank in range(2):
        wrapper = DistributedSamplerWrapper(data.train_dataloader().sampler, num_replicas=2, rank=rank, shuffle=False)
        ranks.append(list(wrapper))
    one_process = list(data.train_dataloader().sampler)
    assert len(ranks[0]) == len(ranks[1]) == 500
    assert sorted(ranks[0] + ranks[1]) == sorted(one_process)  # the ranks share one epoch's draws, no overlap
    labels = Counter(int(data.train_set.tensors[1][i]) for i in ranks[0])
    assert all(abs(labels[c] / 500 - 1 / 3) < 0.09 for c in range(3)), labels


def test_loss_weights_are_inverse_frequency_and_reach_the_criterion(tmp_path):
    data = Skewed(balance="loss")
    model = ImageClassifier(num_classes=3, in_channels=1, image_size=8)
    trainer = Trainer(default_root_dir=tmp_path, fast_dev_run=2, logger=False, enable_progress_bar=False)
    trainer.fit(model, data)
    expected = torch.tensor([1000 / (3 * n) for n in COUNTS.values()])
    assert torch.allclose(data.class_weights, expected)
    assert torch.equal(model.criterion.weight, data.class_weights)
    assert "criterion.weight" not in model.state_dict()  # checkpoints load into an unweighted module


def test_per_class_accuracy_and_f1_are_logged_at_test(tmp_path):
    trainer = Trainer(default_root_dir=tmp_path, max_steps=5, logger=False, enable_progress_bar=False)
    model = ImageClassifier(num_classes=3, in_channels=1, image_size=8)
    trainer.fit(model, Skewed())
    (results,) = trainer.test(model, Skewed(), verbose=False)
    images, labels = Skewed().make_splits()[2].tensors
    with torch.no_grad():
        predicted = model.eval()(images).argmax(-1)
    matrix = torch.zeros(3, 3).index_put_((labels, predicted), torch.ones(4), accumulate=True)
    for index, name in enumerate(COUNTS):  # accuracy per class is the recall of that class
        assert results[f"test/acc_{name}"] == pytest.approx(float(matrix[index, index] / matrix[index].sum()))
        assert 0.0 <= results[f"test/f1_{name}"] <= 1.0


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--data.balance", "foo"], "--data.balance: Expected a typing.Literal['none', 'sampler', 'loss']"),
        (["--data.mixup", "-1"], "--data.mixup must be >= 0 (got -1.0)"),
    ],
)
def test_wrong_values_are_one_line_errors(args, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as exit_info:
        main(["--runs_dir", str(tmp_path / "runs"), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.json"))


@pytest.mark.slow
def test_sampler_under_ddp_end_to_end(tmp_path):
    """Two CPU ranks: Lightning wraps the weighted sampler, so each rank trains on half of the epoch's draws."""
    done = train_subprocess(
        tmp_path, "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu",
        "--trainer.max_epochs", "1", "--data.balance", "sampler",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("class counts: train 1258") == 1  # rank 0 only
    results = json.loads(Path(done.stdout.strip().splitlines()[-1].split("results: ")[1]).read_text("utf-8"))
    assert results["global_step"] == 10  # ceil(1258 / 2 ranks / 64): sharded, not 20 steps per rank
    assert (Path(results["run_dir"]) / "class_counts.json").is_file()

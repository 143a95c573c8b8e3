"""The lecture's claims as the docs now state them (issue 17, item 5), each checked against the installed stack:
``DistributedSampler.set_epoch`` and who calls it, the DDP snippet's bugs and its corrected version, today's
Ray and model-summary names, and DataParallel's device-0 imbalance (``bench/dp_imbalance.py``). The GPU half,
``torch.cuda.empty_cache()``, is a probe of ``bench/gpu_check.sh`` (``bench/gpu_probes.py``)."""

from __future__ import annotations

import importlib
import importlib.util
import socket
import sys

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from tests.helpers import ROOT


class _Indices(Dataset):
    """Item ``i`` is the index ``i`` itself, so a batch says which samples were drawn."""

    def __len__(self) -> int:
        return 16

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([float(index)])


class _RecordsOrder(pl.LightningModule):
    """Records the sample indices of every training batch, per epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(1, 1)
        self.seen: dict[int, list[int]] = {}

    def training_step(self, batch, batch_idx):
        self.seen.setdefault(self.current_epoch, []).extend(int(i) for i in batch.flatten())
        return self.layer(batch).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def _order(sampler: DistributedSampler, epoch: int) -> list[int]:
    sampler.set_epoch(epoch)
    return list(sampler)


def test_a_plain_loop_without_set_epoch_repeats_the_same_order_every_epoch():
    sampler = DistributedSampler(_Indices(), num_replicas=2, rank=0, shuffle=True, seed=0)
    loader = DataLoader(_Indices(), batch_size=4, sampler=sampler)
    epochs = [[int(i) for batch in loader for i in batch.flatten()] for _ in range(3)]
    assert epochs[0] == epochs[1] == epochs[2]  # the lecture's pitfall: shuffle=True alone does not reshuffle
    assert _order(sampler, 0) != _order(sampler, 1)  # set_epoch reseeds the permutation (seed + epoch)


def test_lightning_calls_set_epoch_for_you_each_epoch(tmp_path):
    """The Trainer's fit loop calls ``set_epoch(current_epoch)`` on the train loader's sampler, so the order of
    every epoch is the sampler's order for that epoch and differs between epochs; rank 1's share is disjoint."""
    sampler = DistributedSampler(_Indices(), num_replicas=2, rank=0, shuffle=True, seed=0)
    module = _RecordsOrder()
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_epochs=3, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=DataLoader(_Indices(), batch_size=4, sampler=sampler))
    assert sampler.epoch == 2
    reference = DistributedSampler(_Indices(), num_replicas=2, rank=0, shuffle=True, seed=0)
    assert [module.seen[e] for e in range(3)] == [_order(reference, e) for e in range(3)]
    assert len({tuple(module.seen[e]) for e in range(3)}) == 3  # a new order every epoch
    other_rank = DistributedSampler(_Indices(), num_replicas=2, rank=1, shuffle=True, seed=0)
    for epoch in range(3):
        assert sorted(module.seen[epoch] + _order(other_rank, epoch)) == list(range(16))


def test_the_lecture_snippet_shuffle_with_a_sampler_is_refused_by_dataloader():
    sampler = DistributedSampler(_Indices(), num_replicas=2, rank=0)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(_Indices(), batch_size=4, shuffle=True, sampler=sampler)
    DataLoader(_Indices(), batch_size=4, shuffle=False, sampler=sampler)  # the corrected snippet: the sampler shuffles


def test_lightning_model_summary_does_the_job_of_torchsummary():
    from pytorch_lightning.callbacks import ModelSummary
    from pytorch_lightning.utilities.model_summary import summarize

    assert ModelSummary and "Total params" in str(summarize(_RecordsOrder(), max_depth=1))


# >>> part:tune
def test_the_current_ray_names_the_docs_use_exist():
    from ray import train, tune
    from ray.train.lightning import RayDDPStrategy
    from ray.train.torch import TorchTrainer
    from ray.tune import ResultGrid

    assert callable(tune.Tuner.fit) and callable(tune.Tuner.restore) and callable(TorchTrainer.fit)
    assert train.ScalingConfig and tune.TuneConfig and tune.RunConfig and RayDDPStrategy
    assert callable(ResultGrid.get_best_result)
    with pytest.raises(DeprecationWarning, match="use Ray Train instead"):  # RaySGD is only a tombstone now
        importlib.import_module("ray.util.sgd")


# <<< part:tune


def _dp_imbalance():
    spec = importlib.util.spec_from_file_location("dp_imbalance", ROOT / "bench" / "dp_imbalance.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_dataparallel_loads_device_0_with_the_optimizer_and_every_output():
    dp = _dp_imbalance()
    mib = 2**20
    rows = dp.per_device(weights=40 * mib, states=2, activations=80 * mib, outputs=16 * mib, devices=4)
    device0, other, ddp = rows["DP device 0"], rows["DP device 1..3"], rows["DDP each of 4"]
    assert device0.optimizer == 80 * mib and other.optimizer == 0  # only device 0 steps the optimizer
    assert device0.outputs == 32 * mib and other.outputs == ddp.outputs == 0  # all outputs + their grad on device 0
    assert device0.activations == other.activations == ddp.activations == 20 * mib  # the batch is split evenly
    assert device0.total > other.total and ddp.total < device0.total
    # ResNet-18 at batch 128 on 8 devices, measured from the model on the meta device: device 0 holds the most.
    table = dp.resnet18_rows(batch=128, devices=8, image=32, num_classes=10)
    assert table["DP device 0"].total > 1.5 * table["DP device 1..7"].total


def test_a_repeated_keyword_is_a_syntax_error():
    with pytest.raises(SyntaxError, match="keyword argument repeated"):
        compile("DataLoader(dataset, shuffle=True, sampler=sampler, shuffle=False)", "<lecture>", "eval")


def test_the_corrected_ddp_snippet_in_the_docs_trains(monkeypatch):
    text = (ROOT / "docs" / "strategies.md").read_text(encoding="utf-8")
    snippet = text.split("<!-- ddp-snippet -->\n```python\n", 1)[1].split("```", 1)[0]
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        monkeypatch.setenv("MASTER_PORT", str(free.getsockname()[1]))
    namespace: dict = {"__name__": "ddp_snippet"}
    exec(compile(snippet, "docs/strategies.md", "exec"), namespace)  # noqa: S102 - the docs' own code
    namespace["train"](0, 1)  # one gloo rank: the whole loop with set_epoch, then a clean teardown
    assert not torch.distributed.is_initialized()

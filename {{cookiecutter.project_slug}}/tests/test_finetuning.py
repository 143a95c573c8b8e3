"""Fine-tuning schedule: the head trains alone for N epochs, then the backbone at a lower rate; resume and DDP."""

from __future__ import annotations

import pytest
import torch
from pytorch_lightning import Callback, Trainer
from torch.utils.data import DataLoader, TensorDataset

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.module import ImageClassifier
from {{ cookiecutter.package_name }}.nets.finetuning import FreezeBackbone, split_head
from tests.helpers import train

HEAD = ("net.13.weight", "net.13.bias")  # SmallCNN's classifier
LIMITS = ["--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "1", "--trainer.limit_test_batches", "1"]


class Snapshots(Callback):
    """The network's weights and buffers after every training epoch; the backbone's relative rate before it."""

    def __init__(self):
        self.epochs: list[dict[str, torch.Tensor]] = []
        self.backbone_lrs: list[float] = []

    def on_train_epoch_end(self, trainer, pl_module):
        state = {k: v.detach().clone() for k, v in pl_module.state_dict().items() if k.startswith("net.")}
        self.epochs.append(state)

    def on_train_epoch_start(self, trainer, pl_module):  # the per-step cosine reaches 0 at the last epoch's end
        groups = trainer.optimizers[0].param_groups
        self.backbone_lrs.append(groups[1]["lr"] / groups[0]["lr"])


def _fit(model, callback, **trainer_args):
    data = TensorDataset(torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,)))
    trainer = Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0, callbacks=[callback], **trainer_args,
    )  # fmt: skip
    trainer.fit(model, DataLoader(data, batch_size=16, shuffle=True))
    return trainer


def _changed(a: dict, b: dict, keys) -> list[str]:
    return [k for k in keys if not torch.equal(a[k], b[k])]


def test_backbone_is_unchanged_while_frozen_and_trains_after_at_the_lower_rate():
    torch.manual_seed(0)
    model = ImageClassifier(freeze_backbone_epochs=2, backbone_lr_scale=0.1, scheduler=None)
    start = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("net.")}
    snapshots = Snapshots()
    _fit(model, snapshots, max_epochs=3)
    backbone = [k for k in start if k not in HEAD]  # weights and BatchNorm statistics
    assert not _changed(start, snapshots.epochs[0], backbone) and not _changed(start, snapshots.epochs[1], backbone)
    assert _changed(start, snapshots.epochs[0], HEAD) == list(HEAD)  # the head learns from the first epoch
    after = _changed(snapshots.epochs[1], snapshots.epochs[2], backbone)
    assert "net.0.weight" in after and "net.1.running_mean" in after  # epoch 2: the backbone trains
    assert snapshots.backbone_lrs == pytest.approx([0.1, 0.1, 0.1])  # its group follows the schedule at 0.1x


def test_resume_past_the_frozen_epochs_keeps_training_the_backbone(tmp_path):
    # Lightning's BackboneFinetuning unfreezes only at the exact epoch, so a run resumed after it stays frozen.
    args = ["--model.freeze_backbone_epochs", "1", *LIMITS]
    first = train(tmp_path, *args, "--trainer.max_epochs", "2")
    before = torch.load(first["last_checkpoint"], weights_only=True)["state_dict"]  # the resumed run overwrites it
    resumed = train(tmp_path, *args, "--trainer.max_epochs", "3", "--ckpt_path", first["last_checkpoint"])
    assert resumed["global_step"] == 9
    after = torch.load(resumed["last_checkpoint"], weights_only=True)["state_dict"]
    assert "net.0.weight" in _changed(before, after, before)
    assert "FreezeBackbone" in torch.load(resumed["last_checkpoint"], weights_only=True)["callbacks"]


def test_resume_inside_the_frozen_epochs_stays_frozen_until_epoch_n(tmp_path):
    args = ["--model.freeze_backbone_epochs", "2", *LIMITS]
    first = train(tmp_path, *args, "--trainer.max_epochs", "1")
    before = torch.load(first["last_checkpoint"], weights_only=True)["state_dict"]  # the resumed run overwrites it
    resumed = train(tmp_path, *args, "--trainer.max_epochs", "2", "--ckpt_path", first["last_checkpoint"])
    after = torch.load(resumed["last_checkpoint"], weights_only=True)["state_dict"]
    assert _changed(before, after, before) == list(HEAD)


class RankChecksums(Callback):
    """Rank 0 saves every rank's per-parameter sums of the backbone at each epoch end (ddp_spawn trains in
    child processes, so the test reads files)."""

    def __init__(self, folder):
        self.folder = folder

    def on_train_epoch_end(self, trainer, pl_module):
        sums = torch.stack([p.detach().double().sum() for p in split_head(pl_module.net)[0]])
        gathered = pl_module.all_gather(sums)  # [ranks, parameters]
        if trainer.is_global_zero:
            torch.save(gathered, self.folder / f"epoch{trainer.current_epoch}.pt")


@pytest.mark.slow
def test_ddp_ranks_agree_on_the_unfrozen_backbone(tmp_path):
    # DDP leaves out the parameters frozen when it wraps the model: without the callback's averaging each rank
    # trains its own backbone on its own shard once unfrozen, and the replicas drift apart.
    torch.manual_seed(0)
    model = ImageClassifier(freeze_backbone_epochs=1)
    start = torch.stack([p.detach().double().sum() for p in split_head(model.net)[0]])
    _fit(model, RankChecksums(tmp_path), max_epochs=2, strategy="ddp_spawn", devices=2)
    frozen, trained = torch.load(tmp_path / "epoch0.pt"), torch.load(tmp_path / "epoch1.pt")
    assert torch.equal(frozen[0], start) and torch.equal(frozen[1], start)
    assert not torch.equal(trained[0], start)
    assert torch.allclose(trained[0], trained[1], rtol=0, atol=1e-6)  # every rank holds the same backbone


def test_user_module_can_freeze_its_own_network(tmp_path):
    from tests.byo.models import VectorClassifier  # written without {{ cookiecutter.package_name }}; its network is `self.model`

    model = VectorClassifier()
    start = {k: v.clone() for k, v in model.model.state_dict().items()}
    data = TensorDataset(torch.randn(64, 64), torch.randint(0, 10, (64,)))
    trainer = Trainer(
        max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[FreezeBackbone(1, attribute="model")],
    )  # fmt: skip
    trainer.fit(model, DataLoader(data, batch_size=16))
    assert _changed(start, model.model.state_dict(), start) == ["4.weight", "4.bias"]  # only its last Linear


def test_callback_is_added_from_the_command_line(tmp_path):
    results = train(
        tmp_path, "--model", "tests.byo.models.VectorClassifier", "--data", "tests.byo.data.DigitsVectors",
        "--data.limit", "300", "--trainer.max_epochs", "1", "--trainer.callbacks+",
        "{{ cookiecutter.package_name }}.nets.finetuning.FreezeBackbone", "--trainer.callbacks.attribute", "model",
    )  # fmt: skip
    assert "FreezeBackbone" in torch.load(results["last_checkpoint"], weights_only=True)["callbacks"]


def test_user_module_without_the_attribute_is_one_line():
    class Bare(torch.nn.Module):
        pass

    with pytest.raises(UserError, match="has no network in attribute 'net'; pass attribute="):
        FreezeBackbone(1).freeze_before_training(Bare())


class NormModes(Callback):
    """Whether the backbone's BatchNorm layers normalise with their stored statistics in each training epoch."""

    def __init__(self):
        self.stored_stats: list[bool] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == 0:
            norms = [m for m in pl_module.net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
            self.stored_stats.append(all(not m.training for m in norms))


def test_frozen_batchnorm_trains_the_head_on_the_features_evaluation_sees():
    torch.manual_seed(0)
    model = ImageClassifier(freeze_backbone_epochs=2, scheduler=None)
    modes = NormModes()
    trainer = Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=1, max_epochs=3, callbacks=[modes],
    )  # fmt: skip
    data = TensorDataset(torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,)))
    trainer.fit(model, DataLoader(data, batch_size=16), DataLoader(data, batch_size=16))
    assert modes.stored_stats == [True, True, False]  # frozen epochs 0 and 1 (validation between them), then not

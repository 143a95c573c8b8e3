"""Augmentation presets change the training split only; MixUp/CutMix hand the module soft targets, whose
accuracy is scored against their most likely class."""

from __future__ import annotations

import pytest
import torch
from pytorch_lightning import Callback, Trainer

from {{ cookiecutter.package_name }}.data import DigitsDataModule, ImageFolderDataModule
from {{ cookiecutter.package_name }}.data.base import ClassificationDataModule
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.module import ImageClassifier
from tests.helpers import write_image_folder


def batches(data: ClassificationDataModule, split: str, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    dataset = getattr(data, f"{split}_set")
    return torch.stack([dataset[i][0] for i in range(min(16, len(dataset)))])


@pytest.mark.parametrize("preset", ["light", "strong"])
def test_digits_presets_change_train_batches_only(preset):
    plain, augmented = DigitsDataModule(), DigitsDataModule(augment=preset)
    plain.setup("fit"), augmented.setup("fit")
    assert not torch.equal(batches(augmented, "train", 0), batches(plain, "train", 0))
    assert not torch.equal(batches(augmented, "train", 0), batches(augmented, "train", 1))  # random per draw
    assert batches(augmented, "train", 0).shape == (16, 1, 8, 8)
    for split in ("val", "test"):
        assert torch.equal(batches(augmented, split, 0), batches(plain, split, 0))
    x, _ = next(iter(augmented.train_dataloader()))  # the batched fetch augments every sample on its own
    assert x.shape == (64, 1, 8, 8) and not torch.equal(x, plain.train_set.tensors[0][:64])


def test_image_folder_presets_change_train_images_only(tmp_path):
    root = write_image_folder(tmp_path / "digits", classes=2, per_class=20, size=20)
    data = {p: ImageFolderDataModule(str(root), 16, 3, augment=p) for p in ("none", "light", "strong")}
    for module in data.values():
        module.setup("fit")
    assert torch.equal(batches(data["none"], "train", 0), batches(data["none"], "train", 1))
    for preset in ("light", "strong"):
        assert batches(data[preset], "train", 0).shape == (16, 3, 16, 16)
        assert not torch.equal(batches(data[preset], "train", 0), batches(data["none"], "train", 0))
        assert torch.equal(batches(data[preset], "val", 0), batches(data["none"], "val", 0))


class Targets(Callback):
    """Records the targets each stage's steps receive (after the DataModule's per-batch hooks)."""

    def __init__(self):
        self.train, self.val = [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.train.append(batch[1])

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.val.append(batch[1])


@pytest.mark.parametrize("mix", [{"mixup": 0.4}, {"cutmix": 1.0}, {"mixup": 0.2, "cutmix": 1.0}])
def test_mixup_and_cutmix_give_soft_targets_in_training_only(mix, tmp_path):
    seen = Targets()
    model = ImageClassifier()
    trainer = Trainer(default_root_dir=tmp_path, fast_dev_run=2, callbacks=[seen], enable_progress_bar=False)
    trainer.fit(model, DigitsDataModule(batch_size=32, **mix))
    assert all(t.shape == (32, 10) and torch.allclose(t.sum(-1), torch.ones(32)) for t in seen.train)
    assert any(bool((t.max(-1).values < 1).any()) for t in seen.train)  # some targets really are blends
    assert seen.val and all(t.ndim == 1 for t in seen.val)
    assert 0.0 <= float(trainer.callback_metrics["train/acc"]) <= 1.0


def test_accuracy_of_soft_targets_is_against_their_most_likely_class():
    model = ImageClassifier()
    x, y = torch.rand(8, 1, 8, 8), torch.arange(8)
    soft = torch.nn.functional.one_hot(y, 10) * 0.6 + 0.04  # most likely class: y
    model.training_step((x, soft), 0)
    soft_acc = model.train_metrics.compute()["train/acc"]
    model.train_metrics.reset()
    model.training_step((x, y), 0)
    assert soft_acc == model.train_metrics.compute()["train/acc"]


def test_negative_alpha_is_a_one_line_error():
    with pytest.raises(UserError, match=r"^--data.cutmix must be >= 0 \(got -0.5\)"):
        DigitsDataModule(cutmix=-0.5)

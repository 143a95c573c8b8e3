"""Backbones by name from torchvision and timm, the library's pretrained weights (offline) and local weight files."""

from __future__ import annotations

import importlib.util
import sys
import urllib.error
from pathlib import Path

import pytest
import torch
from pytorch_lightning import Trainer
from torch.utils.data import DataLoader, TensorDataset

from litproj.cli.runner import main
from litproj.errors import UserError
from litproj.module import ImageClassifier
from litproj.nets import SmallCNN, build_backbone
from tests.helpers import train

needs_timm = pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="the [timm] extra (dev has it)")
TIMM = [pytest.param(name, marks=needs_timm) for name in ("timm:test_resnet", "timm:test_vit")]
FAMILIES = ["small_cnn", "resnet18", "torchvision:mobilenet_v3_small", *TIMM]


def _one_step(model: ImageClassifier, channels: int) -> float:
    """Train ``model`` for one optimizer step on random 16x16 images; the loss of that step."""
    data = TensorDataset(torch.randn(4, channels, 16, 16), torch.tensor([0, 1, 2, 0]))
    trainer = Trainer(
        max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(model, DataLoader(data, batch_size=4))
    return float(trainer.callback_metrics["train/loss"])


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("backbone", FAMILIES)
def test_each_family_builds_for_the_channels_and_trains_a_step(backbone, channels):
    model = ImageClassifier(backbone, num_classes=3, in_channels=channels, image_size=16)
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    assert model(torch.zeros(2, channels, 16, 16)).shape == (2, 3)
    assert torch.isfinite(torch.tensor(_one_step(model, channels)))
    assert any(not torch.equal(before[k], v) for k, v in model.net.state_dict().items())  # it learned


def test_library_backbone_trains_through_train_py(tmp_path):
    results = train(
        tmp_path, "--model.backbone", "torchvision:mobilenet_v3_small", "--trainer.max_epochs", "1",
        "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1", "--trainer.limit_test_batches", "1",
    )  # fmt: skip
    assert results["global_step"] == 2
    saved = Path(results["run_dir"], "config.yaml").read_text(encoding="utf-8")
    assert "backbone: torchvision:mobilenet_v3_small" in saved


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model.backbone", "torchvision:resnet5"], "torchvision has no classification model 'resnet5'"),
        pytest.param(["--model.backbone", "timm:convnext_tinyy"], "Did you mean 'convnext_tiny'?", marks=needs_timm),
        (["--model.backbone", "small_cnn", "--model.pretrained", "true"], "--model.weights PATH"),
        (["--model.weights", "/nonexistent.pt"], "--model.weights: no file at '/nonexistent.pt'"),
    ],
)
def test_backbone_mistakes_are_one_line_and_exit_2(args, expected, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--runs_dir", str(tmp_path / "runs"), *args])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1 and expected in err, err


def test_timm_missing_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm raises ImportError
    with pytest.raises(UserError, match=r"needs timm: pip install -e '\.\[timm\]'"):
        build_backbone("timm:convnext_tiny", 3, 10)


def test_offline_and_not_cached_names_the_file_and_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    args = ["--model.backbone", "torchvision:mobilenet_v3_small", "--model.pretrained", "true"]
    with pytest.raises(SystemExit) as exit_info:
        main(["--runs_dir", str(tmp_path / "runs"), *args])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1, err
    looked_for = tmp_path / "torch" / "hub" / "checkpoints" / "mobilenet_v3_small-047dcff4.pth"
    assert str(looked_for) in err and "--model.weights PATH" in err


@needs_timm
def test_timm_offline_and_not_cached_is_a_user_error(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no request leaves the machine
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(UserError, match=r"timm/test_resnet\.r160_in1k on the Hugging Face hub.*--model\.weights PATH"):
        build_backbone("timm:test_resnet", 3, 10, pretrained=True)


def test_cached_library_weights_load_offline_with_head_and_stem_adapted(tmp_path, monkeypatch):
    from torchvision.models import mobilenet_v3_small

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", None)  # any download attempt would fail the test
    reference = mobilenet_v3_small(num_classes=1000).state_dict()  # stands in for the ImageNet file
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(reference, cache / "mobilenet_v3_small-047dcff4.pth")
    net = build_backbone("torchvision:mobilenet_v3_small", 1, 5, pretrained=True)
    loaded = net.state_dict()
    stem, head = "features.0.0.weight", "classifier.3.weight"
    assert torch.equal(loaded[stem], reference[stem].sum(dim=1, keepdim=True))  # grey = sum of the colour filters
    assert loaded[head].shape == (5, 1024)  # a fresh head for 5 classes
    assert all(torch.equal(loaded[k], reference[k]) for k in loaded if k not in (stem, head, "classifier.3.bias"))
    assert net.input_spec == {"image_size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


@needs_timm
def test_local_state_dict_loads_into_a_library_backbone(tmp_path):
    import timm

    reference = timm.create_model("test_resnet", num_classes=1000).state_dict()  # another class count
    torch.save(reference, tmp_path / "weights.pt")
    net = build_backbone("timm:test_resnet", 3, 4, weights=str(tmp_path / "weights.pt"))
    loaded = net.state_dict()
    assert loaded["fc.weight"].shape[0] == 4
    assert all(torch.equal(loaded[k], reference[k]) for k in loaded if not k.startswith("fc."))


def test_litproj_checkpoint_loads_as_weights(tmp_path):
    results = train(tmp_path, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2")
    checkpoint = torch.load(results["last_checkpoint"], map_location="cpu", weights_only=True)
    model = ImageClassifier("small_cnn", weights=results["last_checkpoint"])  # keys start with 'net.'
    trained = {k.removeprefix("net."): v for k, v in checkpoint["state_dict"].items() if k.startswith("net.")}
    assert trained and all(torch.equal(model.net.state_dict()[k], v) for k, v in trained.items())


def test_weights_with_wrong_shapes_name_the_layers(tmp_path, capsys):
    torch.save(
        {"state_dict": {f"model.{k}": v for k, v in SmallCNN(width=16).state_dict().items()}}, tmp_path / "w.ckpt"
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["--runs_dir", str(tmp_path / "runs"), "--model.weights", str(tmp_path / "w.ckpt")])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1, err
    assert "0.weight [16, 1, 3, 3] in the file vs [32, 1, 3, 3]" in err and "does not fit this backbone" in err

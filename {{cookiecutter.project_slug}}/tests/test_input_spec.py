"""Pretrained weights set the data's input: image size, mean and std follow the weights' own metadata unless the
user set them; a DataModule without such settings is left alone; export records the values training used.

Offline: torch.hub's cache holds a randomly initialised mobilenet_v3_small under the name of its ImageNet file, so
``--model.pretrained true`` loads it with torchvision's real metadata (224px, ImageNet's statistics).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, TensorDataset

from {{ cookiecutter.package_name }}.cli.app import build
from {{ cookiecutter.package_name }}.cli.args import prepare
from {{ cookiecutter.package_name }}.cli.export import inference_spec
from {{ cookiecutter.package_name }}.cli.runner import main, run
from {{ cookiecutter.package_name }}.nets.library import weights_input_spec
from tests.helpers import QUIET, write_image_folder, write_mnist

PRETRAINED = ["--model.backbone", "torchvision:mobilenet_v3_small", "--model.pretrained", "true"]
GREY_MEAN, GREY_STD = (0.485 + 0.456 + 0.406) / 3, (0.229 + 0.224 + 0.225) / 3  # ImageNet's, for one channel


class UserImages(LightningDataModule):
    """A user's DataModule (no {{ cookiecutter.package_name }} import): what the model needs as attributes, no size or normalisation
    settings."""

    num_classes, in_channels, image_size = 2, 3, 32

    def __init__(self, batch_size: int = 4):
        super().__init__()
        self.batch_size = batch_size

    def train_dataloader(self) -> DataLoader:
        data = TensorDataset(torch.randn(8, 3, 32, 32), torch.randint(0, 2, (8,)))
        return DataLoader(data, batch_size=self.batch_size)


@pytest.fixture
def cached_weights(tmp_path, monkeypatch) -> None:
    """mobilenet_v3_small's ImageNet file in a fresh torch.hub cache; any download attempt fails the test."""
    from torchvision.models import mobilenet_v3_small

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", None)
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(mobilenet_v3_small().state_dict(), cache / "mobilenet_v3_small-047dcff4.pth")


@pytest.fixture
def images(tmp_path) -> list[str]:
    folder = write_image_folder(tmp_path / "images", classes=2, per_class=6, size=16)
    return ["--data", "{{ cookiecutter.package_name }}.data.ImageFolderDataModule", "--data.data_dir", str(folder), "--data.in_channels", "1"]


def _build(tmp_path: Path, *args: str):
    return build(prepare(["--runs_dir", str(tmp_path / "runs"), *QUIET, *args]))


def test_weights_metadata_is_read_without_building_or_downloading(monkeypatch):
    monkeypatch.setattr(torch.hub, "download_url_to_file", None)
    imagenet = {"image_size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    assert weights_input_spec("torchvision:mobilenet_v3_small") == imagenet
    assert weights_input_spec("torchvision:inception_v3")["image_size"] == 299
    assert weights_input_spec("torchvision:no_such_net") is None and weights_input_spec("small_cnn") is None
    if importlib.util.find_spec("timm"):  # the [timm] extra (dev has it): its pretrained_cfg, no hub request
        assert weights_input_spec("timm:test_resnet") == {"image_size": 160, "mean": [0.5] * 3, "std": [0.5] * 3}


@pytest.mark.parametrize("data", ["folder", "mnist"])
def test_unset_size_and_normalisation_follow_the_weights(data, cached_weights, images, tmp_path, capsys):
    mnist = ["--data", "{{ cookiecutter.package_name }}.data.TorchvisionDataModule", "--data.data_dir", str(write_mnist(tmp_path / "m"))]
    cli = _build(tmp_path, *(images if data == "folder" else mnist), *PRETRAINED)
    datamodule = cli.datamodule
    assert datamodule.image_size == 224 and datamodule.in_channels == 1
    assert datamodule.mean == pytest.approx([GREY_MEAN]) and datamodule.std == pytest.approx([GREY_STD])
    assert cli.model.example_input_array.shape == (2, 1, 224, 224)  # the model sees the size the data now has
    assert cli.config.data.init_args.image_size == 224  # what config.yaml saves, so a rebuilt run matches
    transform = datamodule.predict_transform()
    assert transform(torch.zeros(1, 5, 7, dtype=torch.uint8)).shape == (1, 224, 224)
    err = capsys.readouterr().err
    assert "note: the data follows the torchvision:mobilenet_v3_small weights: took image_size 224, mean" in err


def test_a_value_the_user_set_wins_and_the_note_says_so(cached_weights, images, tmp_path, capsys):
    config = tmp_path / "mine.yaml"
    config.write_text("data:\n  init_args:\n    std: [0.3]\n", encoding="utf-8")
    cli = _build(tmp_path, *images, "--config", str(config), *PRETRAINED, "--data.image_size", "96")
    datamodule = cli.datamodule
    assert datamodule.image_size == 96 and cli.model.example_input_array.shape[-1] == 96
    assert datamodule.std == [0.3] and datamodule.mean == pytest.approx([GREY_MEAN])  # the unset one still follows
    note = next(line for line in capsys.readouterr().err.splitlines() if "follows" in line)
    assert "took mean [0.485, 0.456, 0.406] from them" in note
    assert "kept image_size 96 (set by --data.image_size, the weights': 224)" in note
    assert f"std [0.3] (set by {config}, the weights': [0.229, 0.224, 0.225])" in note


@pytest.mark.parametrize("data", ["{{ cookiecutter.package_name }}.data.DigitsDataModule", "tests.test_input_spec.UserImages"])
def test_a_datamodule_without_such_settings_is_untouched(data, cached_weights, tmp_path, capsys):
    cli = _build(tmp_path, "--data", data, *PRETRAINED)
    before = build(prepare(["--runs_dir", str(tmp_path / "runs"), *QUIET, "--data", data])).config.data
    assert cli.config.data == before and cli.datamodule.image_size in (8, 32)
    name = data.rsplit(".", 1)[-1]
    err = capsys.readouterr().err
    assert f"{name} has no image_size/mean/std settings to follow them" in err and "224px" in err


def test_without_library_weights_nothing_changes(images, tmp_path, capsys):
    cli = _build(tmp_path, *images, "--model.backbone", "torchvision:mobilenet_v3_small")
    assert cli.datamodule.image_size == 64 and cli.datamodule.mean == [0.5]
    assert "follows" not in capsys.readouterr().err


def test_stats_for_another_channel_count_are_one_line(tmp_path, capsys):
    folder = write_image_folder(tmp_path / "images", classes=2, per_class=2)
    with pytest.raises(SystemExit) as exit_info:
        main(["--runs_dir", str(tmp_path / "runs"), "--data", "{{ cookiecutter.package_name }}.data.ImageFolderDataModule"]
             + ["--data.data_dir", str(folder), "--data.mean", "[0.1, 0.2]"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and err.splitlines() == [
        "error: --data.mean: 2 values for 3-channel images; give one per channel."
    ], err


def test_inference_json_describes_the_input_the_data_follows(cached_weights, images, tmp_path):
    cli = _build(tmp_path, *images, *PRETRAINED)
    example = (cli.model.example_input_array,)
    spec = inference_spec(cli.model, cli.datamodule, example, [torch.zeros(2, 2)])
    assert spec["image_size"] == 224 and spec["inputs"][0]["shape"] == ["batch", 1, 224, 224]
    assert spec["mean"] == pytest.approx([GREY_MEAN]) and spec["std"] == pytest.approx([GREY_STD])


@pytest.mark.slow  # a fit and a traced export of mobilenet: ~25 s on a busy 2-core machine
def test_export_records_the_input_training_used(cached_weights, images, tmp_path, monkeypatch, capsys):
    small = {"image_size": 24, "mean": [0.4, 0.5, 0.6], "std": [0.2, 0.2, 0.2]}  # metadata read by the test above
    monkeypatch.setattr("{{ cookiecutter.package_name }}.cli.input_spec.weights_input_spec", lambda backbone: small)
    tiny = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1"]
    fitted = run(["fit", "--runs_dir", str(tmp_path / "runs"), *QUIET, *images, *PRETRAINED, *tiny])
    saved = Path(fitted["run_dir"], "config.yaml").read_text(encoding="utf-8")
    assert "image_size: 24" in saved
    capsys.readouterr()
    exported = run(["export", "--runs_dir", str(tmp_path / "runs"), *QUIET, "--ckpt_path", "best"]
                   + ["--format", "torchscript"])  # fmt: skip
    spec = json.loads(Path(exported["export"]["inference"]).read_text(encoding="utf-8"))
    assert spec["image_size"] == 24 and spec["inputs"][0]["shape"] == ["batch", 1, 24, 24]
    assert spec["mean"] == pytest.approx([0.5]) and spec["std"] == pytest.approx([0.2])  # grey: the average
    assert "kept image_size 24 (set by" in capsys.readouterr().err  # the saved config holds what training used

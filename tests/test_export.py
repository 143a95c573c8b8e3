"""``python train.py export``: the exported file computes what the checkpoint computes, ``inference.json`` says what
to feed it, any LightningModule exports, and each mistake (missing onnx, no input to trace, no checkpoint) is one
line before anything is written."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import torch

from litproj.cli import export
from litproj.cli.runner import main, run
from litproj.errors import UserError
from litproj.module import ImageClassifier
from tests.byo.data import DigitsVectors
from tests.byo.models import VectorClassifier
from tests.helpers import QUIET, train

TINY = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1"]
BYO = ["--model", "tests.byo.models.VectorClassifier", "--data", "tests.byo.data.DigitsVectors", "--data.limit", "200"]


def _export(runs: Path, *args: str) -> dict:
    return run(["export", "--runs_dir", str(runs), *QUIET, *args])


def _digits_batch() -> torch.Tensor:
    from litproj.data import DigitsDataModule

    data = DigitsDataModule(batch_size=32)
    data.setup("test")
    return next(iter(data.test_dataloader()))[0]


def _checkpoint_model(path: str) -> ImageClassifier:
    model = ImageClassifier()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["state_dict"])
    return model.eval()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    """One tiny ImageClassifier fit on digits; its runs folder."""
    root = tmp_path_factory.mktemp("export")
    train(root, "fit", *TINY)
    return root / "runs"


@pytest.fixture(scope="module")
def torchscript(fitted) -> dict:
    return _export(fitted, "--ckpt_path", "best", "--format", "torchscript")


def test_torchscript_equals_the_checkpoint_exactly(torchscript, capsys):
    exported = Path(torchscript["exported"])
    assert exported.name == "model.pt" and exported.parent == Path(torchscript["run_dir"])
    checkpoint = Path(json.loads((exported.parent / "inference.json").read_text(encoding="utf-8"))["checkpoint"])
    assert checkpoint.parent.parent != exported.parent  # a new run folder: the fit's files stay untouched
    batch = _digits_batch()
    with torch.no_grad():
        assert torch.equal(torch.jit.load(str(exported))(batch), _checkpoint_model(str(checkpoint))(batch))
    assert torchscript["export"]["max_abs_diff"] <= 1e-6


def test_export_ends_with_the_exported_path(fitted, capsys):
    results = _export(fitted, "--ckpt_path", "last", "--format", "torchscript")
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"exported: {results['exported']}"
    assert lines[-2] == f"results: {Path(results['run_dir']) / 'results.json'}"
    assert any(line.startswith("export check: max abs difference") for line in lines)


def test_inference_json_says_what_to_feed(torchscript):
    spec = json.loads(Path(torchscript["export"]["inference"]).read_text(encoding="utf-8"))
    assert spec["class_names"] == [str(d) for d in range(10)]
    assert spec["inputs"] == [{"shape": ["batch", 1, 8, 8], "dtype": "float32"}]
    assert spec["outputs"] == [{"shape": ["batch", 10], "dtype": "float32"}]
    assert (spec["in_channels"], spec["image_size"], spec["format"]) == (1, 8, "torchscript")


def test_onnx_equals_the_checkpoint_within_1e4(fitted):
    onnxruntime = pytest.importorskip("onnxruntime", reason="the [onnx] extra is not installed")
    pytest.importorskip("onnxscript", reason="the [onnx] extra is not installed")
    results = _export(fitted, "--ckpt_path", "best", "--format", "onnx")
    exported = Path(results["exported"])
    spec = json.loads(Path(results["export"]["inference"]).read_text(encoding="utf-8"))
    session = onnxruntime.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    batch = _digits_batch()  # another batch size than the traced example: the batch dimension is free
    got = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: batch.numpy()})[0])
    with torch.no_grad():
        want = _checkpoint_model(spec["checkpoint"])(batch)
    assert (got - want).abs().max().item() <= 1e-4
    assert spec["format"] == "onnx" and spec["class_names"][0] == "0"


def _byo_checkpoint(path: Path) -> VectorClassifier:
    """A user's module saved as Lightning saves it (a ``state_dict`` inside a dict), outside any run folder."""
    torch.manual_seed(0)
    model = VectorClassifier()
    torch.save({"state_dict": model.state_dict()}, path)
    return model.eval()


def test_byo_module_exports_from_a_data_batch(tmp_path):
    model = _byo_checkpoint(tmp_path / "byo.ckpt")  # no example_input_array: traced on a test-loader batch
    results = _export(tmp_path / "runs", *BYO, "--ckpt_path", str(tmp_path / "byo.ckpt"), "--format", "torchscript")
    spec = json.loads(Path(results["export"]["inference"]).read_text(encoding="utf-8"))
    assert spec["inputs"] == [{"shape": ["batch", 64], "dtype": "float32"}]
    assert spec["class_names"] is None and spec["module"] == "tests.byo.models.VectorClassifier"
    data = DigitsVectors(limit=200)
    data.setup("test")
    features = next(iter(data.test_dataloader()))[0]
    with torch.no_grad():
        assert torch.equal(torch.jit.load(results["exported"])(features), model(features))


def test_no_input_to_trace_is_one_line(tmp_path):
    _byo_checkpoint(tmp_path / "byo.ckpt")
    only_train = [*BYO[:2], "--data", "tests.byo.data.TrainOnlyVectors", "--data.limit", "200"]
    with pytest.raises(UserError, match="no example_input_array and the data has no predict, test or val loader"):
        _export(tmp_path / "runs", *only_train, "--ckpt_path", str(tmp_path / "byo.ckpt"), "--format", "torchscript")
    assert not list((tmp_path / "runs").rglob("*"))  # the run folder made for it is gone again


def test_missing_onnx_is_one_line_with_the_install_command(tmp_path, monkeypatch, capsys):
    _byo_checkpoint(tmp_path / "byo.ckpt")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what Python reports for a package that is not there
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--runs_dir", str(tmp_path / "runs"), *QUIET, *BYO, "--ckpt_path", str(tmp_path / "byo.ckpt")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: --format onnx needs onnxruntime: pip install -e '.[onnx]'")
    assert not list((tmp_path / "runs").rglob("*"))  # refused before any run folder was kept


class ValueBranching(VectorClassifier):
    """A forward that branches on its input's values: tracing keeps the branch its example took."""

    def __init__(self, hidden: int = 32, lr: float = 0.01):
        super().__init__(hidden, lr)
        self.example_input_array = torch.zeros(2, 64)

    def forward(self, x):
        return self.model(x) if bool(x.abs().sum() > 0) else -self.model(x)


def test_an_export_that_computes_something_else_is_refused(tmp_path):
    _byo_checkpoint(tmp_path / "byo.ckpt")
    branching = ["--model", "tests.test_export.ValueBranching", *BYO[2:], "--ckpt_path", str(tmp_path / "byo.ckpt")]
    with pytest.raises(UserError, match="the torchscript model's outputs differ from the checkpoint's"):
        _export(tmp_path / "runs", *branching, "--format", "torchscript")
    assert not list((tmp_path / "runs").rglob("*.pt"))  # no unverified model left behind


def test_format_and_checkpoint_mistakes(tmp_path):
    with pytest.raises(UserError, match="'onx' is not one of onnx, torchscript. Did you mean 'onnx'"):
        export.take_format(["--format", "onx"])
    assert export.take_format(["--seed", "1", "--format=torchscript"]) == ("torchscript", ["--seed", "1"])
    with pytest.raises(UserError, match=re.escape("--ckpt_path best|last|FILE")):
        _export(tmp_path / "runs", *BYO, "--format", "torchscript")

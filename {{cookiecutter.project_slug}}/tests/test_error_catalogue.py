"""The bad-input catalogue (docs/errors.md): each mistake costs one line on stderr, exit 2, and nothing else.

Every case runs ``train.py`` in-process against one workspace holding a finished run, its checkpoints and
results, an incompatible checkpoint inside a run folder of its own, and broken inputs. Before and after
each case the workspace is fingerprinted (size, mtime, SHA-256 of every file): nothing may change, new
files may only appear inside a new run folder, and only a case that trains (``trains=True``) may leave
checkpoints there. To add a case, add a
row to ``CASES`` (cases for another entry point set ``entry``).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from {{ cookiecutter.package_name }}.cli.runner import main as train_main
from {{ cookiecutter.package_name }}.module import ImageClassifier
from tests.helpers import QUIET, train, train_subprocess, write_image_folder, write_mnist

IMAGE_FOLDER = ["--data", "{{ cookiecutter.package_name }}.data.ImageFolderDataModule", "--data.image_size", "8", "--data.data_dir"]


@dataclass(frozen=True)
class Case:
    """One row of the catalogue: arguments (``{ws}`` is the workspace) and a pattern the error line must match."""

    name: str
    args: list[str]
    expected: str
    trains: bool = False
    entry: object = field(default=train_main, compare=False)


BYO = ["--model", "tests.byo.models.VectorClassifier", "--data", "tests.byo.data.DigitsVectors", "--data.limit", "100"]

CASES = [
    Case(
        "unknown key",
        ["--trainer.max_epoch", "3"],
        r"unknown option --trainer\.max_epoch\. Did you mean '--trainer\.max_epochs'\?",
    ),
    Case("unknown model key", ["--model.lrr", "0.1"], r"unknown option --model\.lrr .*Did you mean 'lr'\?"),
    Case("wrong type", ["--trainer.max_epochs", "ten"], r"--trainer\.max_epochs: Expected a <class 'int'> \(got ten\)"),
    Case("batch size 0", ["--data.batch_size", "0"], r"--data\.batch_size: must satisfy v>0"),
    Case("negative num_workers", ["--data.num_workers", "-1"], r"--data\.num_workers: must satisfy v>=0"),
    Case(
        "unknown balance",
        ["--data.balance", "foo"],
        r"--data\.balance: Expected a typing\.Literal\['none', 'sampler', 'loss'\]\. Got value: foo",
    ),
    Case("unknown augment preset", ["--data.augment", "heavy"], r"--data\.augment: Expected a typing\.Literal\["),
    Case("negative mixup alpha", ["--data.mixup", "-1"], r"--data\.mixup must be >= 0 \(got -1\.0\)"),
    Case("negative lr", ["--model.lr", "-0.1"], r"--model\.lr must be > 0 \(got -0\.1\)"),
    Case("negative weight decay", ["--model.weight_decay", "-1"], r"--model\.weight_decay must be >= 0"),
    Case("devices 0", ["--trainer.devices", "0"], r"--trainer\.devices must be at least 1"),
    Case("negative max_epochs", ["--trainer.max_epochs", "-5"], r"`max_epochs` must be a non-negative integer or -1"),
    Case("unknown strategy", ["--trainer.strategy", "dpp"], r"unknown strategy 'dpp'\. Did you mean 'ddp'\?"),
    Case(
        "strategy class path that does not import",
        ["--trainer.strategy", "pytorch_lightning.strategies.NoSuchStrategy"],
        r"--trainer\.strategy: cannot import 'pytorch_lightning\.strategies\.NoSuchStrategy'",
    ),
    Case(
        "strategy class path that is no strategy",
        ["--trainer.strategy", "torch.nn.Linear"],
        r"--trainer\.strategy: 'torch\.nn\.Linear' is not a Lightning Strategy class\.",
    ),
    Case("unknown strategy preset", ["--strategy", "dpp"], r"--strategy: unknown preset 'dpp'"),
    Case("unknown precision", ["--trainer.precision", "13"], r"--trainer\.precision: expected one of .*'bf16-mixed'"),
    Case("unknown accelerator", ["--trainer.accelerator", "tpux"], r"invalid accelerator name: `accelerator='tpux'`"),
    Case(
        "more GPUs than present",
        ["--trainer.accelerator", "gpu", "--trainer.devices", "64"],
        r"(has no GPU|asked for 64 GPU\(s\) but this machine has \d+)",
    ),
    Case(
        "unknown backbone", ["--model.backbone", "resnet19"], r"unknown backbone 'resnet19'\. Did you mean 'resnet18'\?"
    ),
    Case("missing YAML", ["--config", "{ws}/nope.yaml"], r"--config: File does not exist: '.*nope\.yaml'"),
    Case(
        "malformed YAML", ["--config", "{ws}/broken.yaml"], r"--config .*broken\.yaml: invalid YAML at line 2, column 1"
    ),
    Case(
        "unknown key in YAML",
        ["--config", "{ws}/typo.yaml"],
        r"typo\.yaml: unknown key 'trainer\.max_epoch'\. Did you mean",
    ),
    Case(
        "missing data folder", [*IMAGE_FOLDER, "{ws}/nowhere"], r"--data\.data_dir: folder '.*nowhere' does not exist"
    ),
    Case("empty class folder", [*IMAGE_FOLDER, "{ws}/empty_class"], r"class folder '.*digit 7' is missing or empty"),
    Case("corrupt image", [*IMAGE_FOLDER, "{ws}/corrupt"], r"cannot read image '.*bad\.png'.*--data\.skip_bad_files"),
    Case(
        "labels out of range",
        ["--data", "{{ cookiecutter.package_name }}.data.TorchvisionDataModule", "--data.data_dir", "{ws}/mnist_bad"],
        r"label 12 at index 3 is outside \[0, 10\)",
    ),
    Case(
        "ckpt_path missing",
        ["--ckpt_path", "{ws}/missing.ckpt"],
        r"--ckpt_path: checkpoint '.*missing\.ckpt' does not exist",
    ),
    Case(
        "ckpt_path not a checkpoint", ["--ckpt_path", "{ws}/notes.ckpt"], r"'.*notes\.ckpt' is not a PyTorch checkpoint"
    ),
    Case("ckpt_path without a state_dict", ["--ckpt_path", "{ws}/plain.ckpt"], r"is not a Lightning checkpoint"),
    Case(
        "ckpt_path from an incompatible model",
        ["--ckpt_path", "{ws}/runs/resnet/version_0/checkpoints/last.ckpt"],
        r"was saved from a different model: weights \d+ missing",
    ),
    Case(
        "ckpt_path that would run code",
        ["--ckpt_path", "{ws}/evil.ckpt"],
        r"refusing to load '.*evil\.ckpt': unpickling it would call io\.open.*--trust_checkpoint true",
    ),
    Case("ckpt_path last with no run", ["--name", "never_trained", "--ckpt_path", "last"], r"no last checkpoint"),
    Case("test without checkpoint file", ["test", "--ckpt_path", "{ws}/missing.ckpt"], r"does not exist"),
    Case("negative every_n_steps", ["--checkpoint.every_n_steps", "-1"], r"--checkpoint\.every_n_steps: must satisfy"),
    Case(
        "NaN loss",
        ["fit", "--model.lr", "1e30", "--trainer.max_epochs", "1"],
        r"training loss is nan at step \d+ \(epoch 0, batch \d+\)\. Lower --model\.lr",
        trains=True,
    ),
    Case(
        "your constructor rejects a value",
        [*BYO, "--model.hidden", "-3"],
        r"--model: tests\.byo\.models\.VectorClassifier\(hidden=-3, lr=0\.01\) raised RuntimeError: .*--debug",
    ),
    Case(
        "your class misses a required argument",
        ["--model", "tests.byo.models.VectorClassifier", "--data", "tests.byo.data.FolderVectors"],
        r"--data: tests\.byo\.data\.FolderVectors needs data_dir: pass --data\.data_dir VALUE",
    ),
    Case(
        "predict without a predict loader",
        ["predict", "--model", "tests.byo.models.NoValidation", "--data", "tests.byo.data.TrainOnlyVectors"],
        r"predict: TrainOnlyVectors has no predict_dataloader\(\); add one",
    ),
    Case(
        "model_split on a forward that is no chain",
        ["--strategy", "model_split", "--model", "tests.byo.models.Residual", "--data", "tests.byo.data.DigitsVectors"],
        r"--strategy model_split: .*--model_split\.stages",
    ),
    Case(
        "find_lr without an lr",
        ["--find_lr", "--model", "tests.byo.models.NoValidation", "--data", "tests.byo.data.TrainOnlyVectors"],
        r"--find_lr: NoValidation needs an `lr` or `learning_rate`",
    ),
]


def _run_folder(relative: str) -> str | None:
    """``runs/<experiment>/version_<n>`` of a file inside a run folder, else ``None``."""
    parts = Path(relative).parts
    return "/".join(parts[:3]) if parts[0] == "runs" and len(parts) > 3 else None


def _fingerprint(root: Path) -> dict[str, tuple]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


class _Evil:
    """Unpickling this creates a file: proof that loading ran code from the checkpoint."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def write_evil_checkpoint(path: Path, target: Path) -> Path:
    torch.save({"state_dict": {}, "payload": _Evil(target)}, path)
    return path


def _assert_untouched(before: dict, after: dict, trains: bool) -> None:
    """No existing file changed; new files only inside new run folders; checkpoints only from a run that trained."""
    assert {k: after.get(k) for k in before} == before, "an existing file was modified"
    added = sorted(set(after) - set(before))
    existing_runs = {_run_folder(k) for k in before}
    assert all(_run_folder(k) not in existing_runs | {None} for k in added), f"files outside a new run folder: {added}"
    if not trains:  # a run that failed before training may leave its logger's first file, nothing more
        assert not [k for k in added if k.endswith((".ckpt", "results.json"))], added


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("catalogue")
    finished = train(ws, "fit", "--trainer.max_steps", "3", "--trainer.limit_val_batches", "1")
    (ws / "broken.yaml").write_text("trainer: [unclosed\n", encoding="utf-8")
    (ws / "typo.yaml").write_text("trainer:\n  max_epoch: 3\n", encoding="utf-8")
    (ws / "notes.ckpt").write_text("not a checkpoint\n", encoding="utf-8")
    torch.save({"weights": torch.zeros(2)}, ws / "plain.ckpt")
    write_image_folder(ws / "empty_class", classes=2, per_class=3, size=8)
    (ws / "empty_class" / "digit 7").mkdir()
    write_image_folder(ws / "corrupt", classes=2, per_class=3, size=8)
    (ws / "corrupt" / "digit 0" / "bad.png").write_bytes(b"not a png")
    labels = write_mnist(ws / "mnist_bad", train=50, test=10) / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    data[8 + 3] = 12  # label of image 3, after the 8-byte idx header
    labels.write_bytes(bytes(data))
    other = ws / "runs" / "resnet" / "version_0"
    shutil.copytree(finished["run_dir"], other)
    checkpoint = torch.load(other / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["state_dict"] = ImageClassifier(backbone="resnet18").state_dict()
    torch.save(checkpoint, other / "checkpoints" / "last.ckpt")
    write_evil_checkpoint(ws / "evil.ckpt", ws / "pwned")
    return ws


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_costs_one_line_and_nothing_else(case: Case, workspace: Path, capsys):
    args = [a.replace("{ws}", str(workspace)) for a in case.args]
    stage = args[:1] if args[0] in ("fit", "test", "validate", "predict") else []
    before = _fingerprint(workspace)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        case.entry([*stage, "--runs_dir", str(workspace / "runs"), *QUIET, *args[len(stage) :]])
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert re.search(case.expected, lines[0]), lines[0]
    _assert_untouched(before, _fingerprint(workspace), case.trains)
    assert not (workspace / "pwned").exists()


def test_catalogue_has_at_least_twenty_train_cases():
    assert len([c for c in CASES if c.entry is train_main]) >= 20


def test_crafted_checkpoint_runs_code_only_when_trusted(tmp_path):
    """The guard is what stops the payload: with --trust_checkpoint semantics it does run."""
    from {{ cookiecutter.package_name }}.reliability.checkpoint_guard import load_checkpoint

    marker = tmp_path / "pwned"
    path = write_evil_checkpoint(tmp_path / "evil.ckpt", marker)
    with pytest.raises(Exception, match="refusing to load"):
        load_checkpoint(path)
    assert not marker.exists()
    load_checkpoint(path, trust=True)
    assert marker.exists()


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--ckpt_path", "{ws}/evil.ckpt"], "refusing to load"),
        pytest.param([*IMAGE_FOLDER, "{ws}/corrupt"], "cannot read image", marks=pytest.mark.slow),
    ],
    ids=["unsafe checkpoint", "corrupt image"],
)
def test_bad_input_through_a_real_process(args, expected, workspace):
    before = _fingerprint(workspace)
    done = train_subprocess(workspace, *[a.replace("{ws}", str(workspace)) for a in args])
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith("error: ") and expected in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    _assert_untouched(before, _fingerprint(workspace), trains=False)
    assert not (workspace / "pwned").exists()

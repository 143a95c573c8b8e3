"""Correct beyond one process on one laptop (issue 14): collective timeouts in every preset, data loaders that
follow the Trainer, resuming on another machine, precision x strategy, and UTF-8 text files."""

from __future__ import annotations

import ast
import os
import platform
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning_fabric.accelerators import MPSAccelerator as FabricMPS
from pytorch_lightning import Callback, Trainer
from pytorch_lightning.accelerators import MPSAccelerator
from rich.console import Console
from torch.utils.data import TensorDataset

from {{ cookiecutter.package_name }}.cli import args as cli_args
from {{ cookiecutter.package_name }}.cli.app import build
from {{ cookiecutter.package_name }}.cli.runner import main, run
from {{ cookiecutter.package_name }}.data.base import ClassificationDataModule
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.troubleshoot.doctor import doctor
from tests.helpers import QUIET, train

BYO = ["--model", "tests.byo.models.VectorClassifier", "--data", "tests.byo.data.DigitsVectors"]


class ProcessGroupRequested(Exception):
    """Raised by the stand-in for ``torch.distributed.init_process_group`` once it has seen its arguments."""


def built(tmp_path, *args: str):
    """The CLI of ``python train.py fit ARGS`` (Trainer built, nothing run)."""
    return build(cli_args.prepare(["fit", "--runs_dir", str(tmp_path / "runs"), *args]))


@pytest.mark.parametrize(("preset", "devices"), [("ddp", 2), ("ddp_spawn", 2), ("fsdp", 2), ("model_split", 1)])
def test_dist_timeout_reaches_the_process_group_of_every_preset(tmp_path, monkeypatch, preset, devices):
    # What torch.distributed.init_process_group receives when the preset's strategy sets up its ranks.
    for name, value in (("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29577")):  # restored after the test
        monkeypatch.setenv(name, value)
    seen: dict = {}

    def init_process_group(backend, **kwargs):
        seen.update(kwargs, backend=backend)
        raise ProcessGroupRequested

    monkeypatch.setattr(torch.distributed, "init_process_group", init_process_group)
    cli = built(tmp_path, "--strategy", preset, "--trainer.devices", str(devices), "--dist_timeout", "7", *BYO)
    if preset == "model_split":  # one process: no process group, nothing to time out
        cli.trainer.strategy.setup_environment()
        assert seen == {} and not torch.distributed.is_initialized()
        return
    with pytest.raises(ProcessGroupRequested):
        cli.trainer.strategy.setup_environment()
    assert seen["backend"] == "gloo" and seen["world_size"] == 2
    assert seen["timeout"] == timedelta(seconds=7)


class FileLikeData(ClassificationDataModule):
    """A user's subclass whose samples are read one by one (not in memory): the case that wants workers."""

    class_names = ["a", "b"]

    def make_splits(self):
        data = TensorDataset(torch.zeros(8, 1, 4, 4), torch.zeros(8, dtype=torch.long))
        return data, data, data


def loader_on(trainer, **options):
    data = FileLikeData(batch_size=4, **options)
    data.trainer = trainer  # what Lightning does when the Trainer attaches its datamodule
    data.setup("fit")
    return data.train_dataloader()


@pytest.fixture
def sixteen_core_gpu_machine(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)


def gpu_trainer(local_ranks: int):
    """What the data module reads of a Trainer on CUDA with ``local_ranks`` processes on this machine."""
    device = SimpleNamespace(root_device=torch.device("cuda", 0))
    return SimpleNamespace(strategy=device, num_devices=local_ranks, is_global_zero=False)  # rank 0 writes counts


def test_a_cpu_run_on_a_gpu_machine_pins_nothing_and_starts_no_workers(sixteen_core_gpu_machine, tmp_path):
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, default_root_dir=tmp_path)
    loader = loader_on(trainer)
    assert loader.pin_memory is False and loader.num_workers == 0


def test_workers_are_shared_among_the_local_ranks_of_a_gpu_run(sixteen_core_gpu_machine):
    eight_ranks = loader_on(gpu_trainer(8))
    assert eight_ranks.pin_memory is True and eight_ranks.num_workers == 1  # 16 cores / 8 ranks, one for the rank
    assert loader_on(gpu_trainer(1)).num_workers == 8  # one rank: up to 8 of its 15 spare cores
    assert loader_on(gpu_trainer(8), num_workers=3, pin_memory=False).num_workers == 3  # the user's choice wins


#: A short BYO run whose checkpoint callback monitors what the module logs (its state is found again on resume).
RESUMABLE = [*BYO, "--data.limit", "64", "--trainer.logger", "false", "--checkpoint.monitor", "val_loss",
             "--checkpoint.mode", "min"]  # fmt: skip
_saving_as_gpu = False  # while True, torch.save records every storage as living on cuda:0


def _as_saved_on_a_gpu(storage):
    return "cuda:0" if _saving_as_gpu else None


torch.serialization.register_package(0, _as_saved_on_a_gpu, lambda storage, location: None)


def as_saved_on_two_gpus(path) -> None:
    """Rewrite checkpoint ``path`` as a 2-GPU run writes it: tensors tagged ``cuda:0``, CUDA RNG states of 2 devices."""
    global _saving_as_gpu
    checkpoint = torch.load(path, weights_only=True)
    for state in checkpoint["callbacks"].values():
        if "rng_states" in state:
            state["rng_states"]["cuda"] = [torch.full((16,), device, dtype=torch.uint8) for device in (1, 2)]
    _saving_as_gpu = True
    try:
        torch.save(checkpoint, path)
    finally:
        _saving_as_gpu = False


@pytest.fixture
def two_gpu_checkpoint(tmp_path):
    first = train(tmp_path, "fit", *RESUMABLE, "--trainer.max_epochs", "1")
    as_saved_on_two_gpus(first["last_checkpoint"])
    with pytest.raises(RuntimeError, match="CUDA"):  # torch's own loading would need the GPU
        torch.load(first["last_checkpoint"], weights_only=True)
    return first["last_checkpoint"]


def resume(tmp_path, checkpoint, *callbacks: Callback) -> dict:
    args = ["fit", "--runs_dir", str(tmp_path / "runs"), *QUIET, *RESUMABLE, "--trainer.max_epochs", "2",
            "--trainer.accelerator", "cpu", "--ckpt_path", checkpoint]  # fmt: skip
    return run(args, trainer_defaults={"callbacks": list(callbacks)})


class OneGpuMachineWhileRestoring(Callback):
    """Between ``setup`` and ``on_fit_start`` (where Lightning restores the callbacks' states from ``--ckpt_path``)
    torch sees one GPU: restoring the RNG state of ``cuda:1`` raises IndexError there, as torch does."""

    def __init__(self, monkeypatch):
        self.monkeypatch, self.restored = monkeypatch, {}

    def _set_rng_state(self, state, device="cuda"):
        index = device if isinstance(device, int) else torch.device(device).index or 0
        if index >= 1:
            raise IndexError("tuple index out of range")
        self.restored[index] = state.clone()

    def setup(self, trainer, pl_module, stage):
        patch = self.monkeypatch.setattr
        patch(torch.cuda, "is_available", lambda: True)
        patch(torch.cuda, "device_count", lambda: 1)
        patch(torch.cuda, "set_rng_state", self._set_rng_state)
        patch(torch.cuda.random, "set_rng_state", self._set_rng_state)

    def on_fit_start(self, trainer, pl_module):
        self.monkeypatch.undo()  # the rest of the run trains on the CPU as usual


def test_resuming_on_fewer_gpus_restores_the_rng_of_the_devices_that_exist(tmp_path, monkeypatch, two_gpu_checkpoint):
    machine = OneGpuMachineWhileRestoring(monkeypatch)
    resumed = resume(tmp_path, two_gpu_checkpoint, machine)
    assert resumed["epochs"] == 2 and list(machine.restored) == [0] and machine.restored[0].eq(1).all()


def test_resuming_on_a_cpu_machine_loads_a_checkpoint_saved_on_gpus(tmp_path, two_gpu_checkpoint):
    resumed = resume(tmp_path, two_gpu_checkpoint)
    assert resumed["epochs"] == 2
    weights = torch.load(resumed["last_checkpoint"], weights_only=True)["state_dict"]
    assert all(tensor.device.type == "cpu" for tensor in weights.values())


def test_a_precision_lightning_refuses_for_the_preset_is_one_line_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["fit", "--runs_dir", str(tmp_path / "runs"), "--strategy", "fsdp", "--trainer.devices", "2",
              "--trainer.precision", "16-mixed", *BYO])  # fmt: skip
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [
        "error: --trainer.precision 16-mixed: FullyShardedStrategy does not support it (Lightning refuses the pair "
        "before training); use one of 32-true, bf16-mixed, bf16-true, 16-true."
    ]
    assert not list((tmp_path / "runs").rglob("config.yaml"))  # nothing trained, no run folder kept


def test_doctor_reports_the_precisions_lightning_refuses_per_preset():
    console = Console(record=True, width=120)
    doctor(console=console)
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in console.export_text().splitlines()
            if line.startswith("│ --strategy")}  # fmt: skip
    assert rows["--strategy fsdp"].endswith("Lightning refuses precision 16-mixed")
    assert all(rows[f"--strategy {name}"].endswith("any precision") for name in ("ddp", "ddp_spawn", "model_split"))


ROOT = Path(__file__).resolve().parents[1]
#: Calls that open a file in text mode unless told otherwise (Path methods and builtins alike).
TEXT_IO = {"open", "read_text", "write_text", "NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile"}


def text_io_without_encoding(tree: ast.AST) -> list[int]:
    """Lines of calls that read or write text in the platform's encoding (cp1252 on Windows), not UTF-8."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name not in TEXT_IO or any(k.arg in ("encoding", None) for k in node.keywords):
            continue
        if name in ("read_text", "write_text") and len(node.args) > (name == "write_text"):
            continue  # the encoding given by position, or importlib.metadata's Distribution.read_text(filename)
        mode = next((k.value for k in node.keywords if k.arg == "mode"), None)
        if mode is None and name == "open" and len(node.args) > (1 if isinstance(node.func, ast.Name) else 0):
            mode = node.args[1 if isinstance(node.func, ast.Name) else 0]
        if name in ("NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile") and mode is None:
            continue  # binary ("w+b") unless a mode says otherwise
        if isinstance(mode, ast.Constant) and "b" in str(mode.value):
            continue
        if (
            isinstance(node.func, ast.Attribute)
            and node.func.attr == "open"
            and _module(node.func.value) in ("os", "Image")
        ):
            continue  # os.open is a file descriptor, PIL's Image.open reads images
        lines.append(node.lineno)
    return lines


def _module(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else ""


def test_every_text_file_is_read_and_written_as_utf8():
    found = []
    for folder in ("src", "tests", "tools", "bench", "hooks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            found += [f"{path.relative_to(ROOT)}:{line}" for line in text_io_without_encoding(tree)]
    for path in sorted(ROOT.glob("*.py")):  # the entry points
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [f"{path.name}:{line}" for line in text_io_without_encoding(tree)]
    assert not found, "text I/O without encoding='utf-8': " + ", ".join(found)


@pytest.fixture
def apple_silicon(monkeypatch):
    """A Mac with an M-series chip: MPS available, no CUDA (Lightning caches its MPS check: cleared around)."""
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(platform, "processor", lambda: "arm")
    FabricMPS.is_available.cache_clear()
    yield
    FabricMPS.is_available.cache_clear()


def test_model_split_with_accelerator_auto_places_its_stages_on_apple_mps(tmp_path, apple_silicon):
    cli = built(tmp_path, "--strategy", "model_split", "--trainer.accelerator", "auto", *BYO)
    assert isinstance(cli.trainer.accelerator, MPSAccelerator)
    assert cli.trainer.strategy.stage_devices() == ["mps", "mps"]


def test_model_split_says_so_when_a_listed_device_is_not_on_this_machine(tmp_path):
    with pytest.raises(UserError, match=r"^--trainer.strategy.devices: mps: this machine has no Apple MPS device"):
        train(tmp_path, "fit", "--strategy", "model_split", "--trainer.strategy.devices", "[cpu, mps]", *BYO)
    assert not list((tmp_path / "runs").rglob("config.yaml"))

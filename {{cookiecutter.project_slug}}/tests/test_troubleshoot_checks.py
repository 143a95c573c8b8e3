"""Checks that name the problem: layer shapes, explained CUDA/NCCL errors, and ``{{ cookiecutter.package_name }} doctor``."""

from __future__ import annotations

import pytest
import torch
from rich.console import Console

from {{ cookiecutter.package_name }}.__main__ import main as {{ cookiecutter.package_name }}_main
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.rundir import config_dir
from {{ cookiecutter.package_name }}.troubleshoot.doctor import GPU, Machine, doctor, preset_support
from {{ cookiecutter.package_name }}.troubleshoot.explain import explain, explain_errors
from tests.helpers import train


def test_summary_prints_layer_shapes_and_exits(tmp_path, capsys):
    assert train(tmp_path, "--summary") == {}
    out = capsys.readouterr().out
    assert "ImageClassifier: layers and shapes (batch of 2)" in out
    assert "│ net.0  │ Conv2d            │ [2, 1, 8, 8]  │ [2, 32, 8, 8] │    320 │" in out
    assert "│ net.13 │ Linear            │ [2, 64]       │ [2, 10]       │    650 │" in out
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # no empty run folder left


def test_backbone_that_does_not_fit_the_images_fails_before_training(tmp_path):
    with pytest.raises(UserError) as caught:
        train(tmp_path, "--config", str(config_dir() / "demo" / "shape_mismatch.yaml"))
    assert str(caught.value).startswith(
        "shape check: layer 'net.1' (Linear) expects [*, 784] but gets [2, 64] from an input of [2, 1, 8, 8] "
        "(1-channel 8x8 images from DigitsDataModule)."
    )
    assert not any((tmp_path / "runs").glob("*/version_*"))


@pytest.mark.parametrize(
    ("message", "title"),
    [
        ("CUDA out of memory. Tried to allocate 2.00 GiB", "CUDA out of memory"),
        ("CUDA error: device-side assert triggered\nCUDA kernel errors might be ...", "CUDA device-side assert"),
        ("cuDNN error: CUDNN_STATUS_NOT_INITIALIZED", "cuDNN failed to initialise"),
        ("[Rank 1] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=7, OpType=ALLREDUCE)", "NCCL timeout"),
        ("mat1 and mat2 shapes cannot be multiplied (2x64 and 784x128)", "shape mismatch in a Linear layer"),
        ("Target 12 is out of bounds.", "label out of range"),
    ],
)
def test_known_errors_are_explained(message, title):
    explanation = explain(RuntimeError(message))
    assert explanation is not None and explanation.title == title
    assert explanation.fix


def test_explanations_name_the_key_fixes():
    assert "CUDA_LAUNCH_BLOCKING=1" in explain(RuntimeError("device-side assert triggered")).fix
    assert "label" in explain(RuntimeError("device-side assert triggered")).why
    assert "--summary" in explain(RuntimeError("mat1 and mat2 shapes cannot be multiplied")).fix
    assert explain(ValueError("something else")) is None


def test_explainer_prints_traceback_then_explanation_and_exits_1(capsys):
    with pytest.raises(SystemExit) as exited, explain_errors():
        try:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")
        except RuntimeError as err:
            raise RuntimeError("training failed") from err  # found through the cause chain
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.index("Traceback") < err.index("{{ cookiecutter.package_name }}: CUDA out of memory:") < err.index("fix: ")


def test_unknown_errors_and_user_errors_pass_through():
    with pytest.raises(KeyError), explain_errors():
        raise KeyError("x")
    with pytest.raises(UserError), explain_errors():
        raise UserError("CUDA out of memory at batch size 1 ...")


def test_doctor_command_reports_no_gpu_on_one_screen(capsys):
    with pytest.raises(SystemExit) as exited:
        {{ cookiecutter.package_name }}_main(["doctor"])  # what `{{ cookiecutter.package_name }} doctor` and `python -m {{ cookiecutter.package_name }} doctor` run
    assert exited.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("GPUs" in line and "no GPU" in line for line in lines)
    assert any("precision 16-mixed" in line and "falls back to bf16-mixed" in line for line in lines)
    assert len(lines) <= 50


def _machine(**changes) -> Machine:
    base = {
        "python": "3.11",
        "system": "Linux",
        "torch": "2.14.1",
        "torch_cuda": "13.0",
        "cuda_available": False,
        "nvidia_driver": False,
        "cpus": 8,
        "packages": {"pytorch-lightning": "2.6.6", "lightning": None},
    }
    return Machine(**{**base, **changes})


def _doctor(machine: Machine) -> tuple[int, str]:
    console = Console(record=True, width=120)
    code = doctor(machine, console)
    return code, console.export_text()


def test_doctor_cuda_build_without_driver_is_fine_on_a_cpu_machine():
    code, text = _doctor(_machine())
    assert code == 0
    assert "info: torch is built with CUDA 13.0; no NVIDIA driver: CPU only." in text


def test_doctor_fails_with_fix_when_gpu_is_unusable():
    code, text = _doctor(_machine(nvidia_driver=True, torch_cuda=None))
    assert code == 1
    assert "error: this machine has an NVIDIA driver but torch is a CPU-only build." in text
    assert "fix: install a CUDA build" in text
    code, text = _doctor(_machine(nvidia_driver=True))
    assert code == 1 and "cannot use it" in text


def test_doctor_warns_when_both_lightning_packages_are_installed():
    code, text = _doctor(_machine(packages={"pytorch-lightning": "2.6.6", "lightning": "2.6.6"}))
    assert code == 0
    assert "warning: both `lightning` and `pytorch_lightning` are installed" in text
    assert "fix: pip uninstall lightning" in text


def test_doctor_lists_gpus_and_preset_requirements():
    gpus = [GPU(0, "NVIDIA H100", 81559.0, 80000.0, True), GPU(1, "NVIDIA H100", 81559.0, 1000.0, True)]
    code, text = _doctor(_machine(cuda_available=True, nvidia_driver=True, gpus=gpus))
    assert "│ GPU 0             │ NVIDIA H100: 80000 of 81559 MB free" in text
    assert "warning: GPU 1 has only 1000 of 81559 MB free." in text
    four_gpus = {"trainer": {"accelerator": "gpu", "devices": 4, "strategy": "ddp"}}
    assert preset_support(four_gpus, _machine(gpus=gpus)) == "no: needs 4 GPUs"
    assert preset_support({"trainer": {"strategy": "ddp_spawn", "devices": 2}}, _machine()) == "yes"

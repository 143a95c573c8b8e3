"""Modules and DataModules written without litproj (tests/byo) through train.py: run, predict, mistakes.

The strategy and troubleshooting tests for the same modules live in test_strategies*.py and
test_byo_troubleshoot.py (and the search's in the tune tests).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from litproj.errors import UserError
from tests.helpers import train, train_subprocess

VECTORS = ["--data", "tests.byo.data.DigitsVectors", "--data.limit", "300"]
SHORT = ["--trainer.max_epochs", "2"]


def _byo(model: str, *extra: str, data: list[str] = VECTORS) -> list[str]:
    return ["--model", f"tests.byo.models.{model}", *data, *SHORT, *extra]


@pytest.mark.parametrize(
    ("model", "extra", "steps_per_batch"),
    [
        ("VectorClassifier", [], 1),
        ("DictBatchClassifier", ["--data.dict_batches", "true"], 1),
        ("ManualOptimization", [], 2),  # Lightning counts each optimizer's step
        ("EncoderHead", [], 1),
        ("Residual", [], 1),
    ],
)
def test_user_module_trains_tests_and_writes_results(tmp_path, model, extra, steps_per_batch):
    results = train(tmp_path, *_byo(model, *extra))
    assert results["global_step"] == 2 * 8 * steps_per_batch  # 240 training samples, batch 32, two epochs
    assert any(key.startswith("test_") for key in results["metrics"])  # tested after fit
    assert Path(results["run_dir"], "results.json").is_file()
    assert Path(results["last_checkpoint"]).is_file()


def test_user_datamodule_keeps_its_own_batch_size_default(tmp_path):
    # jsonargparse used to carry DigitsDataModule's batch_size=64 (a PositiveInt) into the user's class.
    results = train(tmp_path, *_byo("VectorClassifier"), "--trainer.max_epochs", "1")
    saved = Path(results["run_dir"], "config.yaml").read_text(encoding="utf-8")
    assert "batch_size: 32" in saved and "litproj.data" not in saved and "ImageClassifier" not in saved
    assert results["global_step"] == 8


def test_options_before_the_class_flag_apply_to_that_class(tmp_path):
    results = train(
        tmp_path,
        "--data.limit",
        "300",
        "--data",
        "tests.byo.data.DigitsVectors",
        "--model",
        "tests.byo.models.VectorClassifier",
        "--model.hidden",
        "8",
        "--trainer.max_epochs",
        "1",
    )
    assert results["global_step"] == 8


def test_monitor_falls_back_to_the_logged_validation_loss(tmp_path, capsys):
    results = train(tmp_path, *_byo("VectorClassifier"))
    assert (
        "VectorClassifier does not log val/acc; it logs val_acc, val_loss: keeping the checkpoint "
        "with the lowest val_loss" in capsys.readouterr().err
    )
    assert Path(results["best_checkpoint"]).is_file()


def test_fallen_back_monitor_state_is_restored_on_resume(tmp_path, capsys):
    first = train(tmp_path, *_byo("VectorClassifier", "--trainer.max_epochs", "1"))
    saved = torch.load(first["last_checkpoint"], weights_only=True)["callbacks"]
    key = next(k for k in saved if k.startswith("LitCheckpoint"))
    assert "val/acc" in key  # keyed by the configured monitor, not the val_loss it fell back to
    resumed = train(tmp_path, *_byo("VectorClassifier"), "--ckpt_path", first["last_checkpoint"])
    assert resumed["epochs"] == 2
    # Restored, the callback knows the first run's best file: it keeps one best (top-1) across both epochs.
    # Unrestored, it would start from scratch and leave the first run's best-epoch00.ckpt behind as a second one.
    final = torch.load(resumed["last_checkpoint"], weights_only=True)["callbacks"][key]
    bests = sorted(Path(resumed["last_checkpoint"]).parent.glob("best*.ckpt"))
    assert [str(b) for b in bests] == [final["best_model_path"]]
    assert final["monitor"] == "val_loss"


def test_monitor_named_on_the_command_line_wins(tmp_path):
    with pytest.raises(UserError, match=r"ModelCheckpoint\(monitor='val/acc'\)` could not find the monitored key"):
        train(tmp_path, *_byo("VectorClassifier"), "--checkpoint.monitor", "val/acc")


def test_module_without_validation_or_test_trains_and_reports(tmp_path, capsys):
    results = train(
        tmp_path, *_byo("NoValidation", data=["--data", "tests.byo.data.TrainOnlyVectors", "--data.limit", "300"])
    )
    err = capsys.readouterr().err
    assert "NoValidation does not log val/acc; it logs nothing: keeping only last.ckpt" in err
    assert (
        "NoValidation has no test_step() and TrainOnlyVectors has no test_dataloader(): no test after training." in err
    )
    assert results["best_checkpoint"] is None and Path(results["last_checkpoint"]).is_file()
    assert json.loads(Path(results["run_dir"], "results.json").read_text(encoding="utf-8"))["global_step"] == 16


def _rows(path: str) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_predict_without_predict_step_writes_forward_outputs_by_index(tmp_path):
    results = train(tmp_path, "predict", *_byo("VectorClassifier"))
    rows = _rows(results["predictions"])
    assert rows[0] == ["index", *(f"output_{j}" for j in range(10))]
    assert [int(r[0]) for r in rows[1:]] == list(range(30))  # the test split, in order


def test_predict_with_probabilities_and_dict_batches(tmp_path):
    results = train(tmp_path, "predict", *_byo("DictBatchClassifier", "--data.dict_batches", "true"))
    rows = _rows(results["predictions"])
    assert rows[0] == ["index", "predicted_class", "probability"] and len(rows) == 31
    assert all(0 <= int(r[1]) < 10 and 0 < float(r[2]) <= 1 for r in rows[1:])


def test_predict_of_other_outputs_is_saved_with_torch(tmp_path):
    import torch

    results = train(tmp_path, "predict", *_byo("DictOutputs", "--data.dict_batches", "true"))
    assert results["predictions"].endswith("predictions.pt")
    saved = torch.load(results["predictions"], weights_only=True)
    assert sum(len(batch["logits"]) for batch in saved[0]["predictions"]) == 30


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["predict", *_byo("VectorClassifier", "--data.dict_batches", "true")],
            "predict: VectorClassifier has no predict_step and its batches are dicts (x, y); define predict_step",
        ),
        (
            ["predict", *_byo("NoValidation", data=["--data", "tests.byo.data.TrainOnlyVectors"])],
            "predict: TrainOnlyVectors has no predict_dataloader(); add one to it",
        ),
        (
            _byo("VectorClassifier", "--model.hidden", "-3"),
            "--model: tests.byo.models.VectorClassifier(hidden=-3, lr=0.01) raised RuntimeError: Trying to create "
            "tensor with negative dimension",
        ),
        (_byo("VectorClassifier", "--model.hidden", "many"), "--model.hidden: Expected a <class 'int'>"),
        (
            _byo("VectorClassifier", "--model.hiden", "3"),
            "unknown option --model.hiden of tests.byo.models.VectorClassifier. Did you mean 'hidden'?",
        ),
        (
            _byo("VectorClassifier", data=["--data", "tests.byo.data.FolderVectors"]),
            "--data: tests.byo.data.FolderVectors needs data_dir: pass --data.data_dir VALUE",
        ),
    ],
)
def test_mistakes_with_user_classes_are_one_line(tmp_path, args, message):
    with pytest.raises(UserError) as caught:
        train(tmp_path, *args)
    assert str(caught.value).startswith(message)
    assert not list((tmp_path / "runs").rglob("*.ckpt"))


def test_exception_in_users_own_code_shows_their_traceback(tmp_path):
    finished = train_subprocess(tmp_path, *_byo("Exploding"))
    assert finished.returncode == 1
    assert "Traceback" in finished.stderr and "bug in my training_step" in finished.stderr
    assert "tests/byo/models.py" in finished.stderr


def _results(finished, cwd: Path) -> dict:
    assert finished.returncode == 0, finished.stderr[-3000:]
    last = finished.stdout.strip().splitlines()[-1]
    assert last.startswith("results: "), finished.stdout[-2000:]
    return json.loads((cwd / last.removeprefix("results: ")).read_text(encoding="utf-8"))


TWO_CPUS = ["--trainer.devices", "2", "--trainer.accelerator", "cpu"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("strategy", "model", "extra", "steps_per_batch"),
    [
        ("ddp", "DictBatchClassifier", ["--data.dict_batches", "true"], 1),
        ("ddp", "ManualOptimization", [], 2),
        ("ddp_spawn", "VectorClassifier", [], 1),
    ],
)
def test_user_module_under_ddp(tmp_path, strategy, model, extra, steps_per_batch):
    finished = train_subprocess(tmp_path, "--strategy", strategy, *TWO_CPUS, *_byo(model, *extra))
    results = _results(finished, tmp_path)
    assert results["global_step"] == 2 * 4 * steps_per_batch  # 120 samples per rank, batch 32, two epochs
    assert any(key.startswith("test_") for key in results["metrics"])
    assert Path(results["last_checkpoint"]).is_file()


@pytest.mark.slow
def test_predict_on_two_ranks_writes_one_file_in_dataset_order(tmp_path):
    args = _byo("DictBatchClassifier", "--data.dict_batches", "true")
    finished = train_subprocess(tmp_path, "predict", "--strategy", "ddp", *TWO_CPUS, *args)
    rows = _rows(str(tmp_path / _results(finished, tmp_path)["predictions"]))
    assert [int(r[0]) for r in rows[1:]] == list(range(30))  # 30 samples, 15 per rank, no repeats kept


def test_resume_a_user_module_from_last(tmp_path):
    first = train(tmp_path, *_byo("ManualOptimization"), "--trainer.max_epochs", "1")
    resumed = train(tmp_path, *_byo("ManualOptimization"), "--ckpt_path", "last", "--trainer.max_epochs", "2")
    assert resumed["run_dir"] == first["run_dir"]  # the same run folder continues
    assert (first["global_step"], resumed["global_step"]) == (16, 32)  # two optimizers: two steps per batch


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "extra"),
    [
        ("DictBatchClassifier", ["--data.dict_batches", "true"]),
        ("ManualOptimization", []),
        ("Residual", []),  # no single child holds the weights: each child is sharded
    ],
)
def test_user_module_under_fsdp(tmp_path, model, extra):
    finished = train_subprocess(tmp_path, "--strategy", "fsdp", *TWO_CPUS, *_byo(model, *extra))
    results = _results(finished, tmp_path)
    assert Path(results["last_checkpoint"]).is_dir()  # one shard per rank
    assert any(key.startswith("test_") for key in results["metrics"])

"""Out-of-memory on a CPU: simulated CUDA OOMs are recovered from, and the batch-size/LR finders run on them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pytorch_lightning import Callback

from litproj.cli.runner import run
from litproj.errors import UserError
from litproj.troubleshoot.oom import simulated_oom
from tests.helpers import QUIET, train, train_subprocess

FAST = ["--trainer.limit_val_batches", "2", "--trainer.limit_test_batches", "2"]


def test_simulated_oom_recovers_with_same_effective_batch(tmp_path, capsys):
    results = train(
        tmp_path, "--data.batch_size", "256", "--simulate_oom_above", "64", "--trainer.max_epochs", "1", *FAST,
        "--trainer.limit_train_batches", "8",
    )  # fmt: skip
    assert (
        "CUDA out of memory at step 0 with batch 256: retrying with batch 128 x accumulation 2"
        in capsys.readouterr().err
    )
    recovery = results["oom_recovery"]
    assert [(r["batch_size"], r["accumulate_grad_batches"]) for r in recovery["retries"]] == [(128, 2), (64, 4)]
    assert (recovery["final_batch_size"], recovery["final_accumulate_grad_batches"]) == (64, 4)
    assert results["global_step"] == 2  # 8 batches of 64, one optimizer step per 4: effective batch 256
    run_dir = Path(results["run_dir"])
    assert json.loads((run_dir / "results.json").read_text(encoding="utf-8"))["oom_recovery"] == recovery
    saved = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    assert saved["data"]["init_args"]["batch_size"] == 64
    assert saved["trainer"]["accumulate_grad_batches"] == 4


class OOMOnce(Callback):
    """A real-looking CUDA OOM at the given (epoch, batch) positions, once each (like a rare, too-large batch)."""

    def __init__(self, *positions: tuple[int, int]):
        self.pending = set(positions)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        position = (trainer.current_epoch, batch_idx)
        if position in self.pending:
            self.pending.discard(position)
            raise simulated_oom(len(batch[0]), len(batch[0]) - 1)


def test_mid_fit_oom_resumes_from_last_checkpoint(tmp_path):
    results = run(
        ["fit", "--runs_dir", str(tmp_path / "runs"), *QUIET, *FAST, "--trainer.max_epochs", "2"]
        + ["--oom_recovery", "true", "--trainer.limit_train_batches", "0.25"],
        trainer_defaults={"callbacks": [OOMOnce((0, 3), (1, 2))]},
    )
    first, second = results["oom_recovery"]["retries"]
    assert first["resumed_from"] is None  # no checkpoint yet: a clean start, weights and step count reset
    assert second["resumed_from"].endswith("last.ckpt")
    assert results["oom_recovery"]["final_batch_size"] == 16
    # A quarter of 1257 images: 5 optimizer steps per epoch at 64 x 1, 32 x 2 and 16 x 4 alike; none counted twice.
    assert results["global_step"] == 10


def test_gives_up_at_batch_size_one(tmp_path):
    with pytest.raises(UserError, match=r"out of memory at batch size 1 \(accumulating 4 batches\) after 2 retries"):
        train(tmp_path, "fit", "--data.batch_size", "4", "--simulate_oom_above", "0")


def test_oom_without_recovery_is_explained(tmp_path):
    done = train_subprocess(
        tmp_path, "--data.batch_size", "128", "--simulate_oom_above", "64", "--oom_recovery", "false"
    )
    assert done.returncode == 1
    assert "torch.OutOfMemoryError: CUDA out of memory" in done.stderr  # the traceback, then the explanation
    tail = done.stderr.strip().splitlines()[-2:]
    assert tail[0].startswith("litproj: CUDA out of memory: ")
    assert tail[1].startswith("fix: let litproj shrink the batch (--oom_recovery true)")


def test_batch_size_and_lr_finders(tmp_path, monkeypatch):
    monkeypatch.setattr("litproj.troubleshoot.tuning._LR_STEPS", 30)  # Lightning's 100 steps, shortened for speed
    results = train(
        tmp_path, "fit", "--find_batch_size", "power", "--simulate_oom_above", "100", "--find_lr", *FAST,
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "5",
    )  # fmt: skip
    assert results["batch_size_finder"]["batch_size"] == 64  # 2, 4, ..., 64 fit; 128 > 100 does not
    run_dir = Path(results["run_dir"])
    assert (run_dir / "lr_find.png").stat().st_size > 5000
    lr = results["lr_finder"]["lr"]
    assert 1e-6 < lr < 1
    saved = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    assert saved["data"]["init_args"]["batch_size"] == 64
    assert saved["model"]["init_args"]["lr"] == pytest.approx(lr)
    assert saved["find_batch_size"] is None and saved["find_lr"] is False


@pytest.mark.slow
def test_binsearch_narrows_down_between_powers(tmp_path):
    results = train(
        tmp_path, "fit", "--find_batch_size", "binsearch", "--simulate_oom_above", "100", *FAST,
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2",
    )  # fmt: skip
    assert 64 < results["batch_size_finder"]["batch_size"] <= 100

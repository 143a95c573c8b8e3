"""Every run folder says which code, packages and machine made it: the diff of a dirty checkout in code.patch, the
commit and dirty flag in results.json, the loggers' hyperparameters and the checkpoints; outside git, a note."""

from __future__ import annotations

import json
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest
import torch
import yaml

from {{ cookiecutter.package_name }}.tracking import provenance
from tests.helpers import train

SHORT = ["--trainer.max_epochs", "1", *("--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1")]
SHORT += ["--trainer.limit_test_batches", "1"]
BYO = ["--model", "tests.byo.models.VectorClassifier", "--data", "tests.byo.data.DigitsVectors", "--data.limit", "200"]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def dirty_repo(tmp_path, monkeypatch) -> tuple[Path, str]:
    """A git checkout with one committed file changed and one untracked file, as the working folder."""
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "model_notes.py").write_text("depth = 1\n", encoding="utf-8")
    _git(repo, "add", "model_notes.py")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    (repo / "model_notes.py").write_text("depth = 2\n", encoding="utf-8")
    (repo / "scratch.py").write_text("print('not committed')\n", encoding="utf-8")
    monkeypatch.chdir(repo)
    return repo, _git(repo, "rev-parse", "--short=7", "HEAD")


def test_dirty_checkout_is_recorded_in_the_run_folder_results_hparams_and_checkpoint(dirty_repo):
    repo, short = dirty_repo
    results = train(repo, *BYO, *SHORT)  # a module that never imported {{ cookiecutter.package_name }}; its source lives elsewhere
    run_dir = Path(results["run_dir"])

    patch = (run_dir / "code.patch").read_text(encoding="utf-8")
    assert "-depth = 1\n+depth = 2" in patch
    assert "untracked files, not in this patch: " in patch and "scratch.py" in patch
    subprocess.run(["git", "apply", "--check", "-R", str(run_dir / "code.patch")], cwd=repo, check=True)

    record = json.loads((run_dir / "provenance.json").read_text(encoding="utf-8"))
    assert record["git"]["short_commit"] == short and record["git"]["dirty"] is True
    assert Path(record["git"]["root"]).resolve() == repo.resolve()  # the working folder's checkout, not {{ cookiecutter.package_name }}'s
    assert record["seed"] == 42 and record["hostname"] and record["versions"]["torch"] == torch.__version__
    assert "--data.limit" in record["arguments"] and record["command"]
    assert f"torch=={version('torch')}" in (run_dir / "environment.txt").read_text(encoding="utf-8").splitlines()

    assert results["provenance"]["git_commit"] == short and results["provenance"]["git_dirty"] is True
    saved = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert saved["provenance"] == results["provenance"]
    hparams = yaml.safe_load((run_dir / "hparams.yaml").read_text(encoding="utf-8"))  # TensorBoardLogger's
    assert hparams["git_commit"] == short and hparams["git_dirty"] is True
    checkpoint = torch.load(results["last_checkpoint"], map_location="cpu", weights_only=True)
    assert checkpoint["provenance"] == {"git_commit": short, "git_dirty": True}

    # Resuming into the same run folder (a later command) keeps the earlier session's files.
    (repo / "model_notes.py").write_text("depth = 3\n", encoding="utf-8")
    resumed = train(repo, *BYO, *SHORT, "--trainer.max_epochs", "2", "--ckpt_path", results["last_checkpoint"])
    assert resumed["run_dir"] == results["run_dir"]
    assert "+depth = 3" in (run_dir / "code.patch").read_text(encoding="utf-8")
    assert "+depth = 2" in (run_dir / "earlier" / "1" / "code.patch").read_text(encoding="utf-8")


def test_without_git_the_run_succeeds_with_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(provenance.shutil, "which", lambda name: None)  # as on a machine without git
    results = train(tmp_path, *BYO, *SHORT)
    run_dir = Path(results["run_dir"])
    assert "note: git is not installed" in capsys.readouterr().err
    assert results["provenance"]["git_commit"] is None and "git is not installed" in results["provenance"]["summary"]
    assert (run_dir / "environment.txt").is_file() and not (run_dir / "code.patch").exists()
    assert "git_commit" not in yaml.safe_load((run_dir / "hparams.yaml").read_text(encoding="utf-8"))


def test_a_folder_outside_any_checkout_is_a_note(tmp_path):
    info, patch = provenance.git_state([tmp_path])
    assert patch is None and "not a git checkout" in info["note"]


def test_a_large_diff_is_cut_and_says_so(dirty_repo, monkeypatch):
    repo, _ = dirty_repo
    monkeypatch.setattr(provenance, "PATCH_LIMIT", 200)
    (repo / "model_notes.py").write_text("".join(f"line {i}\n" for i in range(500)), encoding="utf-8")
    info, patch = provenance.git_state([repo])
    assert info["dirty"] is True and patch is not None
    text = patch.decode()
    assert "# TRUNCATED: the first " in text and len(text) < 800

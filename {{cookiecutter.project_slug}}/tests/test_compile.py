"""``--model.compile``: the backbone is compiled in place, so checkpoints keep their keys and resume either way."""

from __future__ import annotations

import pytest
import torch

from {{ cookiecutter.package_name }}.cli.runner import main
from {{ cookiecutter.package_name }}.module import ImageClassifier
from tests.helpers import train


def test_compile_applies_the_mode_to_the_backbone_and_keeps_the_keys(monkeypatch):
    calls = []

    def record(fn, *args, **kwargs):  # stands in for the real (slow) compile
        calls.append((getattr(fn, "__self__", None), kwargs.get("mode")))
        return fn

    monkeypatch.setattr(torch, "compile", record)
    compiled = ImageClassifier(compile=True, compile_mode="max-autotune-no-cudagraphs")
    assert calls == [(compiled.net, "max-autotune-no-cudagraphs")]
    eager = ImageClassifier()
    assert list(compiled.state_dict()) == list(eager.state_dict())  # no '_orig_mod.' prefix
    eager.load_state_dict(compiled.state_dict())  # strict, both ways
    compiled.load_state_dict(eager.state_dict())


def test_unknown_compile_mode_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--runs_dir", str(tmp_path / "runs"), "--model.compile_mode", "fastest"])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1 and "compile_mode" in err, err


@pytest.mark.slow
def test_compiled_run_resumes_an_eager_checkpoint_and_saves_plain_keys(tmp_path):
    short = [
        "--trainer.limit_train_batches",
        "2",
        "--trainer.limit_val_batches",
        "1",
        "--trainer.limit_test_batches",
        "1",
    ]
    first = train(tmp_path, *short, "--trainer.max_epochs", "1")
    resumed = train(
        tmp_path,
        *short,
        "--model.compile",
        "true",
        "--trainer.max_epochs",
        "2",
        "--ckpt_path",
        first["last_checkpoint"],
    )
    assert resumed["global_step"] == 4
    keys = torch.load(resumed["last_checkpoint"], weights_only=True)["state_dict"].keys()
    assert "net.0.weight" in keys and not any("_orig_mod" in k for k in keys)

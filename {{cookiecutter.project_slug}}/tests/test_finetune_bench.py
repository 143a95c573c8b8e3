"""bench/finetune_digits.py in its quick mode, and docs/finetuning.md against the numbers it was written from."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import torch
import yaml

from tests.helpers import ROOT

SCRIPT = ROOT / "bench" / "finetune_digits.py"
DOC, MEASURED, FIGURE = ROOT / "docs" / "finetuning.md", ROOT / "docs" / "finetuning.json", ROOT / "docs" / "img"


def _bench_module():
    spec = importlib.util.spec_from_file_location("finetune_digits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # 7 real runs in a fresh process: about 12 s on 2 busy cores
def test_quick_run_writes_every_arm_a_json_and_a_plot(tmp_path):
    out, png = tmp_path / "ft.json", tmp_path / "ft.png"
    command = [sys.executable, str(SCRIPT), "--quick", "--workdir", str(tmp_path / "work"), "--out", str(out)]
    done = subprocess.run([*command, "--plot", str(png)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[7/7] imbalance_loss_s0" in done.stdout  # one progress line per run
    payload = json.loads(out.read_text(encoding="utf-8"))
    arms = {(r["experiment"], r["arm"]) for r in payload["rows"]}
    bench = _bench_module()
    expected = {("pretrain", "scratch")}
    expected |= {("fewshot", a) for a in bench.FEWSHOT_ARMS} | {("imbalance", a) for a in bench.BALANCE_ARMS}
    assert arms == expected
    for r in payload["rows"]:
        assert 0.0 <= r["test_acc"] <= 1.0 and r["seed"] == 0
        assert set(r["per_class"]) == (
            {"0", "1", "2", "3", "4"} if r["experiment"] == "pretrain" else {"5", "6", "7", "8", "9"}
        )
    assert set(payload["summary"]["imbalance"]["sampler"]) >= {"test_acc", "rare_acc", "rare_f1"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the pretrained weights the few-shot arms loaded had no classifier head (it starts fresh for 5-9)
    state = torch.load(tmp_path / "work" / "pretrained_s0.pt", weights_only=True)
    assert state and not any(k.startswith("13.") for k in state)  # small_cnn's head is its layer 13
    # each arm ran with the flags it is named after (the run's saved config.yaml)
    runs = tmp_path / "work" / "runs"

    def config(name: str) -> dict:
        return yaml.safe_load((runs / name / "version_0" / "config.yaml").read_text(encoding="utf-8"))

    weights = str(tmp_path / "work" / "pretrained_s0.pt")
    assert config("fewshot_scratch_s0")["model"]["init_args"]["weights"] is None
    assert config("fewshot_pretrained_s0")["model"]["init_args"]["weights"] == weights
    frozen = config("fewshot_frozen_then_unfrozen_s0")["model"]["init_args"]
    assert frozen["weights"] == weights and frozen["freeze_backbone_epochs"] >= 1 and frozen["backbone_lr_scale"] < 1
    for arm in bench.BALANCE_ARMS:
        assert config(f"imbalance_{arm}_s0")["data"]["init_args"]["balance"] == arm


def test_doc_states_the_measured_numbers_and_pretrained_beats_scratch():
    payload = json.loads(MEASURED.read_text(encoding="utf-8"))
    fewshot = payload["summary"]["fewshot"]
    assert fewshot["pretrained"]["test_acc"]["mean"] > fewshot["scratch"]["test_acc"]["mean"]
    assert fewshot["pretrained"]["vs_scratch"]["mean"] > 0
    assert fewshot["scratch"]["seeds"] >= 3
    doc = DOC.read_text(encoding="utf-8")
    bench = _bench_module()
    for line in bench.markdown(payload["summary"], payload["settings"]["rare_classes"]).splitlines():
        assert line in doc, f"docs/finetuning.md lacks the measured line: {line}"
    assert "img/finetuning.png" in doc and (FIGURE / "finetuning.png").is_file()

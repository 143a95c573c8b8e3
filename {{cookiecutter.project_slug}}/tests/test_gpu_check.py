"""``bench/gpu_check.sh`` is ready to run on a GPU machine: this suite has no GPU, so it checks what it can here
(the script parses, every probe and test file it names exists and imports)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess

import pytest

from tests.helpers import ROOT

SCRIPT = ROOT / "bench" / "gpu_check.sh"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_script_parses():
    done = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_probe_and_test_file_the_script_names_exists():
    text = SCRIPT.read_text(encoding="utf-8")
    spec = importlib.util.spec_from_file_location("gpu_probes", ROOT / "bench" / "gpu_probes.py")
    assert spec is not None and spec.loader is not None
    probes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probes)  # imports {{ cookiecutter.package_name }} and compiles every probe
    named = set(re.findall(r"gpu_probes\.py (\w+)", text))
    assert named and named <= set(probes.PROBES), named - set(probes.PROBES)
    test_files = set(re.findall(r"tests/test_\w+\.py", text))
    assert {"tests/test_sigterm_ddp.py", "tests/test_fsdp_checkpoints.py"} <= test_files
    for path in test_files:
        assert (ROOT / path).is_file(), path
    kill_test = (ROOT / "tests" / "test_fsdp_checkpoints.py").read_text(encoding="utf-8")
    assert "def test_kill_9_" in kill_test  # what `-k kill_9` selects
    for item in ("nccl", "fsdp", "16-mixed", "bf16-mixed", "channels_last", "out-of-memory", "cuda:1", "SIGTERM"):
        assert item in text, item

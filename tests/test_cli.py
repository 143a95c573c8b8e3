"""The command line: configs layer as documented, outside classes plug in, README commands are CI's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers import ROOT, train


def test_module_from_outside_litproj_trains_through_a_config(tmp_path):
    results = train(tmp_path, "--config", str(ROOT / "tests/configs/boring.yaml"))
    assert results["experiment"] == "boring"
    assert results["epochs"] == 2
    assert results["global_step"] == 2 * 64  # BoringDataModule: 64 batches per epoch
    assert Path(results["last_checkpoint"]).is_file()


def test_later_configs_and_flags_win(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("trainer: {max_epochs: 5}\nmodel: {init_args: {lr: 0.1}}\n", encoding="utf-8")
    second.write_text("trainer: {max_epochs: 1}\n", encoding="utf-8")
    command = [sys.executable, str(ROOT / "train.py"), "--config", str(first), "--config", str(second)]
    done = subprocess.run([*command, "--model.lr", "0.01", "--print_config"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    assert config["trainer"]["max_epochs"] == 1
    assert config["model"]["init_args"]["lr"] == 0.01
    assert config["model"]["class_path"] == "litproj.module.ImageClassifier"
    assert config["data"]["class_path"] == "litproj.data.DigitsDataModule"


def test_experiment_name_comes_from_the_last_config(tmp_path):
    results = train(tmp_path, "--config", str(ROOT / "configs/experiment/digits_cnn.yaml"), "--trainer.max_epochs", "1")
    assert results["run_dir"].endswith("digits_cnn/version_0")
    again = train(tmp_path, "--config", str(ROOT / "configs/experiment/digits_cnn.yaml"), "--trainer.max_epochs", "1")
    assert again["run_dir"].endswith("digits_cnn/version_1")  # a new folder, the first is untouched


def test_strategy_list_names_every_preset(capsys):
    from litproj.cli.runner import run

    assert run(["--strategy", "list"]) == {}
    out = capsys.readouterr().out
    for preset in (ROOT / "configs/strategy").glob("*.yaml"):
        assert preset.stem in out


def test_readme_commands_are_the_ones_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    install, test = blocks[0].strip(), blocks[1].strip()
    assert install == 'pip install -e ".[dev]" && python train.py'
    ci = (ROOT / ".ci/run").read_text(encoding="utf-8").splitlines()
    assert install in ci and test in ci
    assert readme.index(install) < 600  # the first screen

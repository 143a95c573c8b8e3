"""Memory: the monitor logs it, the leak detector names the attribute that leaks, inference keeps no graphs."""

from __future__ import annotations

import torch
import yaml
from pytorch_lightning import Callback
from torch import nn

from litproj.cli import build
from litproj.cli.args import prepare
from litproj.rundir import config_dir
from litproj.troubleshoot.leak import graph_holders, steady_growth
from tests.helpers import QUIET, train, write_image_folder


def test_memory_monitor_logs_and_reports_epoch_peaks(default_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    peaks = default_run["memory"]["peak_mb_per_epoch"]
    assert len(peaks) == 12 and all(p > 50 for p in peaks)  # one RSS peak per epoch, in MB
    events = EventAccumulator(default_run["run_dir"])
    events.Reload()
    assert len(events.Scalars("memory/rss_mb")) == 12 * 2  # every 10 of 20 steps per epoch


def test_no_leak_reported_for_the_default_model(default_run):
    assert "leak_detector" not in default_run


def test_leak_demo_names_the_attribute(tmp_path, capsys):
    results = train(
        tmp_path, "fit", "--config", str(config_dir() / "demo" / "leak.yaml"), "--trainer.max_epochs", "1",
        "--trainer.limit_train_batches", "7", "--trainer.limit_val_batches", "1", "--leak_detector.every_n_steps", "3",
    )  # fmt: skip
    stderr = capsys.readouterr().err
    assert "warning: leak detector: LeakyClassifier.total_loss holds a tensor with grad_fn=AddBackward0" in stderr
    assert "`loss.item()` (or a graph-free tensor with `loss.detach()`)" in stderr
    assert results["leak_detector"]["summary"] == "leak: LeakyClassifier.total_loss"


def test_graph_holders_finds_lists_of_graphs_in_submodules():
    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(2, 1)
            self.kept = []  # the bug: outputs appended with their graphs
            self.clean = []

    model = nn.Sequential(Head())
    for _ in range(3):
        out = model[0].layer(torch.ones(4, 2))
        model[0].kept.append({"out": out})
        model[0].clean.append(out.detach())
    holders = graph_holders(model)
    assert list(holders) == ["Sequential.0.kept"]
    assert holders["Sequential.0.kept"].tensors == 3


def test_steady_growth_needs_a_steady_rise():
    rising = [(step, 100 + 10 * i) for i, step in enumerate(range(0, 80, 10))]
    assert steady_growth(rising, min_growth_mb=50) == (0, 70, 70)
    assert steady_growth(rising, min_growth_mb=100) is None  # not enough growth
    noisy = [(step, 100 + (40 if i % 2 else 0)) for i, step in enumerate(range(0, 80, 10))]
    assert steady_growth(noisy, min_growth_mb=10) is None  # up and down is not a leak


class GraphProbe(Callback):
    """Records, for every forward pass outside training, whether autograd could have recorded a graph."""

    def __init__(self):
        self.seen: list[tuple[str, bool]] = []

    def setup(self, trainer, pl_module, stage):
        pl_module.register_forward_hook(self._record)

    def _record(self, module, args, output):
        if not module.training:
            self.seen.append((module.trainer.state.stage.value, output.grad_fn is not None or output.requires_grad))

    def _outputs(self, outputs):
        if isinstance(outputs, torch.Tensor):
            self.seen.append(("outputs", outputs.grad_fn is not None or torch.is_grad_enabled()))

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._outputs(outputs)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._outputs(outputs)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._outputs(outputs)


def test_validate_test_predict_produce_no_graphs(tmp_path):
    probe = GraphProbe()
    images = write_image_folder(tmp_path / "images", per_class=1, size=8)
    args = ["--runs_dir", str(tmp_path), *QUIET, "--trainer.limit_val_batches", "2", "--data.predict_dir", str(images)]
    cli = build(prepare(args), {"callbacks": [probe]})
    trainer, model, data = cli.trainer, cli.model, cli.datamodule
    trainer.validate(model, datamodule=data)
    trainer.test(model, datamodule=data)
    predictions = trainer.predict(model, datamodule=data)
    stages = {stage for stage, _ in probe.seen}
    assert {"validate", "test", "predict", "outputs"} <= stages
    assert not [seen for seen in probe.seen if seen[1]], "a tensor with grad_fn was produced outside training"
    assert all(p.grad_fn is None and not p.requires_grad for p in predictions)


def test_precision_configs_and_cpu_fallback_note(tmp_path, capsys):
    for name in ("32-true", "16-mixed", "bf16-mixed"):
        assert (
            yaml.safe_load((config_dir() / "precision" / f"{name}.yaml").read_text(encoding="utf-8"))["trainer"][
                "precision"
            ]
            == name
        )
    results = train(
        tmp_path, "fit", "--config", str(config_dir() / "precision" / "16-mixed.yaml"), "--trainer.max_epochs", "1",
        "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
    )  # fmt: skip
    assert (
        "note: --trainer.precision 16-mixed is not available on CPU; training uses bf16-mixed"
        in capsys.readouterr().err
    )
    assert results["precision"] == {
        "summary": "bf16-mixed (asked 16-mixed)",
        "requested": "16-mixed",
        "used": "bf16-mixed",
    }

"""Strategy presets: listing, planning, model split (unit proofs) and data-parallel equal-weights proofs.

The data-parallel proofs train a deterministic model for a few steps on 2 CPU processes (gloo) with
per-process batch B, and once in one process with batch 2B on the same samples: the weights must agree.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from pytorch_lightning.strategies import DDPStrategy
from torch import nn

from litproj.cli.runner import main, run
from litproj.errors import UserError
from litproj.nets import SmallCNN
from litproj.reliability.hardening import with_timeout
from litproj.strategies import ModelSplitStrategy, Pipeline
from litproj.strategies.chain import find_chain
from litproj.strategies.split import balanced_cuts
from tests.helpers import train, train_subprocess
from tests.proof_nets import MLP

# bench/gpu_check.sh runs the proofs on CUDA with LITPROJ_TEST_ACCELERATOR=gpu; the suite itself is CPU-only.
ACCELERATOR = os.environ.get("LITPROJ_TEST_ACCELERATOR", "cpu")
DEVICE = "cuda" if ACCELERATOR == "gpu" else "cpu"
needs_two_devices = pytest.mark.skipif(
    DEVICE == "cuda" and torch.cuda.device_count() < 2, reason="data-parallel proofs on CUDA need 2 GPUs"
)
if DEVICE == "cuda":  # TF32 convolutions would differ from the reference by ~1e-3
    torch.backends.cudnn.allow_tf32 = False
STEPS, BATCH = 3, 16
PROOF = [
    "--model", "tests.proof_nets.ProofClassifier",
    "--model.backbone", "tests.proof_nets.MLP",
    "--data", "tests.proof_nets.OrderedDigits",
    "--model.optimizer", "torch.optim.SGD",  # Adam would amplify rounding in near-zero gradients
    "--model.lr", "0.5",
    "--trainer.accelerator", ACCELERATOR,
    "--trainer.max_epochs", "1",
    "--trainer.limit_train_batches", str(STEPS),
    "--trainer.limit_val_batches", "1",
    "--trainer.limit_test_batches", "1",
    "--trainer.num_sanity_val_steps", "0",
    "--trainer.logger", "false",
    "--trainer.use_distributed_sampler", "false",  # OrderedDigits brings an unshuffled one
]  # fmt: skip
PRESETS = ["auto", "ddp", "ddp_spawn", "fsdp", "model_split"]


def backbone_weights(checkpoint: str) -> dict[str, torch.Tensor]:
    """The backbone's weights from a checkpoint file, or from a sharded checkpoint folder (fsdp)."""
    path = Path(checkpoint)
    if path.is_dir():  # one shard per rank: merged offline, no process group needed
        from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

        merged = path.parent / f"{path.name}.merged.pt"
        dcp_to_torch_save(path, merged)
        state = torch.load(merged, map_location="cpu", weights_only=False)["state_dict"]
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("net.")}


def assert_same_weights(actual: dict, expected: dict, tolerance: float = 1e-5) -> None:
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(actual[key], value, atol=tolerance, rtol=0, msg=key)


def synced_rank_values(run_dir: str) -> dict[int, dict]:
    """What each rank saw as ``proof/rank`` after training (written by ProofClassifier on every rank)."""
    return {int(p.stem[-1]): json.loads(p.read_text(encoding="utf-8")) for p in Path(run_dir).glob("proof_rank*.json")}


@pytest.fixture(scope="module")
def one_process_2b(tmp_path_factory) -> dict[str, torch.Tensor]:
    """Weights after STEPS steps in one process with batch 2*BATCH (the reference for every proof)."""
    results = train(tmp_path_factory.mktemp("reference"), "fit", *PROOF, "--data.batch_size", str(2 * BATCH))
    weights = backbone_weights(results["last_checkpoint"])
    assert results["global_step"] == STEPS
    # The proofs can fail: batch B instead of 2B on one process ends far outside the tolerance.
    half = train(tmp_path_factory.mktemp("half"), "fit", *PROOF, "--data.batch_size", str(BATCH))
    with pytest.raises(AssertionError):
        assert_same_weights(backbone_weights(half["last_checkpoint"]), weights, tolerance=1e-3)
    return weights


# --- presets ---------------------------------------------------------------------------------------


def test_strategy_list_names_every_preset_with_its_hardware(capsys):
    assert run(["--strategy", "list"]) == {}
    out = capsys.readouterr().out
    for name in PRESETS:
        assert name in out
    assert out.count("needs") >= 4


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(UserError, match="Valid presets: " + ", ".join(PRESETS)):
        run(["--strategy", "nonsense"])


# --- --plan ------------------------------------------------------------------------------------------


def test_plan_prints_memory_per_device_without_training(tmp_path, capsys):
    plan = run(["--strategy", "fsdp", "--trainer.devices", "8", "--plan", "--runs_dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert "resolved trainer settings" in out and "memory per device" in out
    assert "fsdp*" in out  # the chosen strategy is marked
    memory = plan["plan"]["memory"]
    assert plan["plan"]["settings"]["world size (processes)"] == 8
    # Sharding divides parameters, gradients and optimizer state; DDP replicates them on every device.
    assert memory["fsdp"]["optimizer"] == pytest.approx(memory["ddp"]["optimizer"] / 8)
    assert memory["fsdp"]["total"] < memory["ddp"]["total"]
    assert memory["ddp"]["activations"] == memory["fsdp"]["activations"] > 0
    assert memory["model_split"]["params"] < memory["auto"]["params"]
    assert not (tmp_path / "runs").exists()  # nothing was written


def test_plan_counts_activation_checkpointing_and_bf16(tmp_path):
    common = ["--strategy", "fsdp", "--trainer.devices", "4", "--plan", "--runs_dir", str(tmp_path),
              "--model.backbone", "resnet18", "--trainer.strategy.wrap_policy", "[BasicBlock]"]  # fmt: skip
    full = run(common)["plan"]["memory"]["fsdp"]
    checkpointed = run([*common, "--trainer.strategy.activation_checkpointing", "true"])["plan"]["memory"]["fsdp"]
    bf16 = run([*common, "--trainer.precision", "bf16-mixed"])["plan"]["memory"]["fsdp"]
    assert checkpointed["activations"] < full["activations"]
    assert bf16["activations"] == pytest.approx(full["activations"] / 2)


# --- model split ---------------------------------------------------------------------------------------


def test_balanced_cuts_keep_every_stage_non_empty():
    assert balanced_cuts([1, 1, 1, 1], 2) == [0, 2]
    assert balanced_cuts([0, 0, 5], 3) == [0, 1, 2]
    assert balanced_cuts([10, 0, 0, 0], 2) == [0, 1]


class DeclaredStages(nn.Module):
    """Not an nn.Sequential: declares its stages so it can still be split."""

    def __init__(self):
        super().__init__()
        self.body = MLP()
        self.scale = nn.Linear(10, 10)

    def forward(self, x):
        return self.scale(self.body(x))

    def pipeline_stages(self):
        return [*self.body, self.scale]


def _outputs_and_grads(net: nn.Module, forward, x, y):
    net.zero_grad()
    out = forward(x)
    F.cross_entropy(out, y).backward()
    return out.detach(), {n: p.grad.clone() for n, p in net.named_parameters()}


@pytest.mark.parametrize("micro_batches", [1, 2, 4, 8])
@pytest.mark.parametrize("make_net", [MLP, DeclaredStages], ids=["sequential", "declared_stages"])
def test_split_outputs_and_gradients_equal_unsplit(make_net, micro_batches):
    torch.manual_seed(0)
    net = make_net().to(DEVICE)
    split = copy.deepcopy(net)
    pipeline = Pipeline.cut(split, [DEVICE] * 3, micro_batches)
    pipeline.place()
    x, y = torch.randn(8, 1, 8, 8, device=DEVICE), torch.randint(0, 10, (8,), device=DEVICE)
    expected_out, expected_grads = _outputs_and_grads(net, net, x, y)
    out, grads = _outputs_and_grads(split, pipeline, x, y)
    torch.testing.assert_close(out, expected_out, atol=1e-6, rtol=1e-5)
    assert grads.keys() == expected_grads.keys()
    for name, grad in expected_grads.items():
        torch.testing.assert_close(grads[name], grad, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("train_mode,micro_batches", [(True, 1), (False, 4)])
def test_split_batchnorm_net_matches_unsplit(train_mode, micro_batches):
    """BatchNorm normalises each micro-batch in training (as in GPipe): equal with 1 micro-batch, or in eval."""
    torch.manual_seed(0)
    net = SmallCNN(dropout=0.0).train(train_mode).to(DEVICE)
    split = copy.deepcopy(net)
    pipeline = Pipeline.cut(split, [DEVICE, DEVICE], micro_batches)
    x, y = torch.randn(8, 1, 8, 8, device=DEVICE), torch.randint(0, 10, (8,), device=DEVICE)
    expected_out, expected_grads = _outputs_and_grads(net, net, x, y)
    out, grads = _outputs_and_grads(split, pipeline, x, y)
    torch.testing.assert_close(out, expected_out, atol=1e-5, rtol=1e-5)
    for name, grad in expected_grads.items():
        torch.testing.assert_close(grads[name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_model_split_strategy_leaves_placed_stages_where_they_are():
    """Lightning moves the model to the root device after configure_model; placed stages must stay put."""
    from litproj.module import ImageClassifier

    module = ImageClassifier()
    strategy = ModelSplitStrategy()
    strategy.pipeline = Pipeline.cut(module.net, ["meta", "cpu"])  # meta stands in for a second device
    strategy.pipeline.place()
    strategy._lightning_module = strategy.model = module
    strategy._root_device = torch.device("cpu")
    strategy.model_to_device()
    first, second = strategy.pipeline.stages
    assert {p.device.type for p in first.parameters()} == {"meta"}
    assert {p.device.type for p in second.parameters()} == {"cpu"}


@pytest.mark.slow  # over a minute on 2 cores: runs in CI's slow pass
def test_model_split_preset_trains(tmp_path):
    results = train(tmp_path, "--strategy", "model_split", "--trainer.max_epochs", "2", "--trainer.strategy.devices",
                    "[cpu, cpu]")  # fmt: skip
    assert results["metrics"]["test/acc"] >= 0.9
    assert results["global_step"] == 40  # one process: the whole epoch, 20 steps
    checkpoint = torch.load(results["best_checkpoint"], map_location="cpu", weights_only=True)
    assert set(checkpoint["state_dict"]) >= {"net.0.weight", "net.13.weight"}  # the unsplit net's keys


# --- model split on modules that never imported litproj ------------------------------------------------

BYO = [
    "--data", "tests.byo.data.DigitsVectors",
    "--checkpoint.monitor", "val_loss",
    "--checkpoint.mode", "min",
    "--trainer.max_epochs", "1",
    "--trainer.limit_train_batches", "8",
    "--trainer.limit_val_batches", "2",
    "--trainer.limit_test_batches", "2",
    "--trainer.logger", "false",
]  # fmt: skip


def _state(checkpoint: str) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]


def test_model_split_cuts_a_user_modules_sequential_and_trains_as_unsplit(tmp_path):
    """VectorClassifier keeps its layers in ``self.model``: cut into 2 stages, 4 micro-batches, same weights."""
    from tests.byo.models import VectorClassifier

    module = VectorClassifier()
    chain = find_chain(module)
    stages = Pipeline.from_pieces(chain.pieces, ["cpu"] * 2).stages
    assert chain.container is module.model and [len(stage) for stage in stages] == [1, 4]  # 2080 | 1386 parameters
    model = ["--model", "tests.byo.models.VectorClassifier", *BYO]
    split = train(tmp_path / "split", "--strategy", "model_split", *model)
    plain = train(tmp_path / "plain", *model)
    assert split["global_step"] == plain["global_step"] == 8
    # The unsplit keys (model.0.weight, ...) and, step for step, the unsplit run's weights.
    assert_same_weights(_state(split["last_checkpoint"]), _state(plain["last_checkpoint"]), tolerance=1e-4)


def test_model_split_runs_named_stages_of_a_user_module(tmp_path):
    results = train(tmp_path, "--strategy", "model_split", "--model", "tests.byo.models.EncoderHead",
                    "--trainer.strategy.stages", "encoder,head", *BYO)  # fmt: skip
    assert results["global_step"] == 8 and "test_acc" in results["metrics"]
    assert set(_state(results["last_checkpoint"])) == {"encoder.0.weight", "encoder.0.bias", "head.weight", "head.bias"}


@pytest.mark.parametrize(
    "stages,message",
    [
        ([], "error: --strategy model_split: cannot split Residual: no nn.Sequential child holds its parameters; "
             "name the children its forward runs one after another with --model_split.stages (children: inp, block, "
             "out)."),
        (["--trainer.strategy.stages", "inp,block,out"], "error: --model_split.stages inp,block,out: the pipelined "
             "chain does not reproduce Residual.forward on one batch;"),
    ],
    ids=["no_chain", "stages_not_a_chain"],
)  # fmt: skip
def test_model_split_refuses_a_module_it_cannot_split_in_one_line(tmp_path, capsys, stages, message):
    """A skip connection is not a chain: no silent single-device run, and no checkpoint."""
    args = ["--strategy", "model_split", "--model", "tests.byo.models.Residual", *stages, *BYO]
    with pytest.raises(SystemExit) as exit_info:
        main(["--runs_dir", str(tmp_path / "runs"), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(message), err[-1]
    assert not list((tmp_path / "runs").rglob("*.ckpt"))
    if not stages:  # found before Lightning's setup hooks write config.yaml: no run folder at all
        assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_plan_estimates_a_user_module_and_says_what_it_cannot(tmp_path, capsys):
    plan = run(["--plan", "--strategy", "fsdp", "--trainer.devices", "4", "--runs_dir", str(tmp_path),
                "--model", "tests.byo.models.Residual", "--data", "tests.byo.data.DigitsVectors"])["plan"]  # fmt: skip
    memory = plan["memory"]
    assert memory["auto"]["activations"] > 0  # measured from one train batch: no example_input_array, no image_size
    assert memory["fsdp"]["optimizer"] == pytest.approx(memory["ddp"]["optimizer"] / 4)
    assert "model_split" not in memory
    assert plan["not_estimated"] == [
        "model_split: --strategy model_split: cannot split Residual: no nn.Sequential child holds its parameters; "
        "name the children its forward runs one after another with --model_split.stages (children: inp, block, out)."
    ]
    assert "not estimated: model_split:" in capsys.readouterr().out


# --- data-parallel proofs -------------------------------------------------------------------------------


@needs_two_devices
def test_ddp_spawn_equals_one_process_with_double_batch(tmp_path, one_process_2b):
    results = train(tmp_path, "fit", "--strategy", "ddp_spawn", "--trainer.devices", "2", *PROOF,
                    "--data.batch_size", str(BATCH))  # fmt: skip
    assert results["global_step"] == STEPS
    assert_same_weights(backbone_weights(results["last_checkpoint"]), one_process_2b)
    # proof/rank was logged as 0 on rank 0 and 1 on rank 1: every rank must end with the mean.
    seen = synced_rank_values(results["run_dir"])
    assert sorted(seen) == [0, 1]
    assert all(v["world"] == 2 and v["value"] == 0.5 for v in seen.values())


@needs_two_devices
@pytest.mark.parametrize("preset", ["fsdp", pytest.param("ddp", marks=pytest.mark.slow)])
def test_launched_strategy_equals_one_process_with_double_batch(tmp_path, one_process_2b, preset):
    """ddp and fsdp re-launch ``python train.py`` for rank 1, so they run as a user runs them: a subprocess."""
    done = train_subprocess(tmp_path, "--strategy", preset, "--trainer.devices", "2", *PROOF,
                            "--data.batch_size", str(BATCH))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("results: ")]
    assert len(lines) == 1 and done.stdout.strip().splitlines()[-1] == lines[0]  # only rank 0 reports
    results = json.loads((tmp_path / lines[0].removeprefix("results: ")).read_text(encoding="utf-8"))
    assert results["stage"] == "fit+test" and "test/acc" in results["metrics"]  # tested from the best checkpoint
    last = Path(results["last_checkpoint"])
    if preset == "fsdp":
        assert last.is_dir() and len(list(last.glob("*.distcp"))) == 2  # one shard per rank
    assert_same_weights(backbone_weights(str(last)), one_process_2b)
    seen = synced_rank_values(results["run_dir"])
    assert all(v["world"] == 2 and v["value"] == 0.5 for v in seen.values()) and len(seen) == 2


def test_strategy_class_path_string_becomes_that_strategy_with_the_collective_timeout():
    # jsonargparse keeps `--trainer.strategy package.Class` as a string; Lightning would reject it.
    strategy = with_timeout("pytorch_lightning.strategies.DDPStrategy", 42)
    assert type(strategy) is DDPStrategy
    assert strategy._timeout == timedelta(seconds=42)

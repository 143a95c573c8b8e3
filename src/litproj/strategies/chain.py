"""What model_split cuts in any LightningModule, and the check that running it as a pipeline changes nothing.

A pipeline needs a chain (each piece's output is the next one's only input). The container's ``forward`` is
replaced by the pipeline as an instance attribute (the state dict keeps the unsplit keys), and only once one
batch gives the same outputs both ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from pytorch_lightning.utilities.model_helpers import is_overridden
from torch import nn

from litproj.errors import UserError, did_you_mean

SEQUENTIAL_SHARE = 0.9  # of the module's parameters, for a Sequential child to be cut without naming stages
CHECK_SAMPLES = 8  # of the checking batch, run through both forwards
_LOADERS = {"fit": "train_dataloader", "validate": "val_dataloader", "test": "test_dataloader"}


def segments(net: nn.Module) -> list[nn.Module]:
    """The smallest pieces ``net`` can be cut into, in forward order: its ``pipeline_stages()`` or, for an
    ``nn.Sequential``, its children."""
    if hasattr(net, "pipeline_stages"):
        return list(net.pipeline_stages())
    if isinstance(net, nn.Sequential):
        return list(net)
    raise UserError(
        f"--strategy model_split: {type(net).__name__} cannot be split; make it an nn.Sequential, give it a "
        "pipeline_stages() method returning its stages in forward order, or name them with --model_split.stages."
    )


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@dataclass
class Chain:
    """The pieces of ``owner`` to pipeline and the ``container`` whose forward the pipeline replaces."""

    owner: nn.Module
    container: nn.Module
    pieces: list[nn.Module]
    label: str
    named: bool
    installed: bool = False

    def install(self, pipeline: Any, sample: torch.Tensor | None) -> None:
        """Replace the container's forward with ``pipeline`` after checking both give the same outputs."""
        owner = type(self.owner).__name__
        if sample is None and self.named:
            raise UserError(
                f"{self.label}: no batch to check that the chain reproduces {owner}.forward; set "
                "self.example_input_array in the module or give the trainer a datamodule."
            )
        expected = None
        if sample is not None:
            try:
                expected = _eval_forward(self.owner, sample)
            except Exception as err:  # not the input forward takes (a dict batch, say)
                if self.named:
                    raise UserError(
                        f"{self.label}: {owner}.forward fails on one batch's input ({type(err).__name__}); set "
                        "self.example_input_array to an input it takes."
                    ) from err
                sample = None
        self.container.forward = pipeline
        self.installed = True
        if sample is None:  # a plain nn.Sequential is a chain by definition
            return
        try:
            same = _same(expected, _eval_forward(self.owner, sample))
        except Exception as err:
            self.uninstall()
            raise UserError(f"{self.label}: the chain fails on one batch ({type(err).__name__}: {err}).") from err
        if not same:
            self.uninstall()
            raise UserError(
                f"{self.label}: the pipelined chain does not reproduce {owner}.forward on one batch; list the "
                "children its forward runs one after another, in order."
            )

    def uninstall(self) -> None:
        self.container.__dict__.pop("forward", None)
        self.installed = False


def find_chain(module: nn.Module, stages: list[str] | None = None) -> Chain:
    """The named children (``stages``), or else the one Sequential child holding the parameters."""
    name = type(module).__name__
    children = [n for n, c in module.named_children() if numel(c)]
    if stages:
        label = f"--model_split.stages {','.join(stages)}"
        pieces = []
        for stage in stages:
            try:
                pieces.append(module.get_submodule(stage))
            except AttributeError:
                raise UserError(
                    f"--model_split.stages: {name} has no child '{stage}'.{did_you_mean(stage, children)} "
                    f"Children with parameters: {', '.join(children) or 'none'}."
                ) from None
        if len({id(p) for p in pieces}) < len(pieces):
            raise UserError(f"{label}: a child is named twice; name each stage once, in forward order.")
        return Chain(module, module, pieces, label, named=True)
    total = numel(module)
    for child_name, child in module.named_children():
        chainable = isinstance(child, nn.Sequential) or hasattr(child, "pipeline_stages")
        if chainable and total and numel(child) >= SEQUENTIAL_SHARE * total:
            return Chain(module, child, segments(child), f"--strategy model_split: {name}.{child_name}", named=False)
    raise UserError(
        f"--strategy model_split: cannot split {name}: no nn.Sequential child holds its parameters; name the "
        f"children its forward runs one after another with --model_split.stages (children: {', '.join(children)})."
    )


def sample_input(trainer) -> torch.Tensor | None:
    """The input of one batch of the stage's loader (fit: the train loader), or the module's example input."""
    module = trainer.lightning_module
    loader = _LOADERS.get(trainer.state.fn.value if trainer.state.fn else "fit", "predict_dataloader")
    source = next((s for s in (trainer.datamodule, module) if s is not None and is_overridden(loader, s)), None)
    if source is not None:
        try:
            with torch.random.fork_rng(devices=[]):  # a shuffling sampler draws a seed: keep training's order
                found = batch_input(next(iter(getattr(source, loader)())))
        except Exception:  # a loader that cannot run yet: fall back to the example input
            found = None
        if found is not None:
            return found[:CHECK_SAMPLES]
    example = getattr(module, "example_input_array", None)
    return example if torch.is_tensor(example) else None


def batch_input(batch: Any) -> torch.Tensor | None:
    if isinstance(batch, (list, tuple)) and batch:
        batch = batch[0]
    return batch if torch.is_tensor(batch) else None


def _eval_forward(module: nn.Module, x: torch.Tensor) -> Any:
    training = module.training
    module.eval()  # dropout off, BatchNorm on running statistics: both forwards see the same function
    try:
        with torch.no_grad():
            return module(x.to(next(module.parameters()).device))
    finally:
        module.train(training)


def _same(expected: Any, actual: Any) -> bool:
    if not (torch.is_tensor(expected) and torch.is_tensor(actual)) or expected.shape != actual.shape:
        return False
    return torch.allclose(expected.float(), actual.float().to(expected.device), rtol=1e-4, atol=1e-5)

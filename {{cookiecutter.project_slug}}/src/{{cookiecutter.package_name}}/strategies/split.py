"""Manual model parallelism: cut a backbone into stages on listed devices and pipeline micro-batches.

A network too large for one device is cut into consecutive stages, each placed on its own device;
activations cross devices between stages. Run naively, only one device works at a time. GPipe splits
each batch into ``micro_batches`` chunks and feeds them through the stages in a wavefront, so stage 2
works on chunk 1 while stage 1 works on chunk 2; the idle share (the "bubble") falls from
``(S-1)/S`` to ``(S-1)/(M+S-1)`` for ``S`` stages and ``M`` micro-batches. CUDA launches are
asynchronous, so a single Python process keeps all GPUs busy; on CPU the stages run one after another.

Lightning moves the whole model to one device after ``configure_model``;
:class:`ModelSplitStrategy` leaves the placed stages where they are.
"""

from __future__ import annotations

import torch
from pytorch_lightning.strategies import SingleDeviceStrategy
from torch import nn

from {{ cookiecutter.package_name }}.errors import UserError


def segments(net: nn.Module) -> list[nn.Module]:
    """The smallest pieces ``net`` can be cut into, in forward order.

    A net declares them with a ``pipeline_stages()`` method; an ``nn.Sequential`` is cut between children.
    """
    if hasattr(net, "pipeline_stages"):
        return list(net.pipeline_stages())
    if isinstance(net, nn.Sequential):
        return list(net)
    raise UserError(
        f"--model.split_devices: backbone {type(net).__name__} cannot be split; make it an nn.Sequential "
        "or give it a pipeline_stages() method returning its stages in forward order."
    )


def balanced_cuts(sizes: list[int], parts: int) -> list[int]:
    """Start index of each of ``parts`` non-empty contiguous groups of ``sizes``, totals as even as possible.

    Each cut goes where the running total comes closest to the next even share.
    """
    prefix = [0]
    for size in sizes:
        prefix.append(prefix[-1] + size)
    cuts = [0]
    for k in range(1, parts):
        target = prefix[-1] * k / parts
        candidates = range(cuts[-1] + 1, len(sizes) - (parts - k) + 1)
        cuts.append(min(candidates, key=lambda c: abs(prefix[c] - target)))
    return cuts


class Pipeline:
    """Runs ``stages`` on ``devices`` GPipe-style; the output lands on the input's device.

    Deliberately not an ``nn.Module``: the stages stay registered where they live in the backbone, so the
    state dict (and every checkpoint) is the same as the unsplit network's.
    """

    def __init__(self, stages: list[nn.Module], devices: list[torch.device], micro_batches: int = 1):
        self.stages = stages
        self.devices = devices
        self.micro_batches = micro_batches

    @classmethod
    def cut(cls, net: nn.Module, devices: list[str | torch.device], micro_batches: int = 1) -> Pipeline:
        """Cut ``net`` into ``len(devices)`` stages balanced by parameter count."""
        pieces = segments(net)
        if len(pieces) < len(devices):
            raise UserError(
                f"--model.split_devices: {len(devices)} devices but the backbone has only {len(pieces)} pieces."
            )
        sizes = [sum(p.numel() for p in piece.parameters()) for piece in pieces]
        cuts = [*balanced_cuts(sizes, len(devices)), len(pieces)]
        stages = [nn.Sequential(*pieces[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
        return cls(stages, [torch.device(d) for d in devices], micro_batches)

    def place(self) -> None:
        for stage, device in zip(self.stages, self.devices, strict=True):
            stage.to(device)

    def modules(self) -> set[int]:
        """ids of every module inside a stage (the strategy leaves these where they are)."""
        return {id(m) for stage in self.stages for m in stage.modules()}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        chunks = list(x.tensor_split(max(1, min(self.micro_batches, len(x)))))
        steps = len(chunks) + len(self.stages) - 1
        for clock in range(steps):
            # Wavefront: at each clock, stage s works on micro-batch clock - s.
            for s, (stage, device) in enumerate(zip(self.stages, self.devices, strict=True)):
                m = clock - s
                if 0 <= m < len(chunks):
                    chunks[m] = stage(chunks[m].to(device, non_blocking=True))
        return torch.cat([chunk.to(x.device) for chunk in chunks])

    def describe(self) -> list[str]:
        return [
            f"stage {i} on {device}: {sum(p.numel() for p in stage.parameters()):,} parameters"
            for i, (stage, device) in enumerate(zip(self.stages, self.devices, strict=True))
        ]


def default_devices(accelerator_type: str, stages: int = 2) -> list[str]:
    """Two stages on the accelerator: ``cpu, cpu`` on CPU; ``cuda:0, cuda:1`` (or ``cuda:0`` twice) on GPU."""
    if accelerator_type == "cuda":
        count = max(1, torch.cuda.device_count())
        return [f"cuda:{i % count}" for i in range(stages)]
    return [accelerator_type] * stages


def _move_unplaced(module: nn.Module, placed: set[int], device: torch.device) -> None:
    if id(module) in placed:
        return
    if not any(id(m) in placed for m in module.modules()):
        module.to(device)
        return
    module._apply(lambda t: t.to(device), recurse=False)  # the module's own tensors, not its children's
    for child in module.children():
        _move_unplaced(child, placed, device)


class ModelSplitStrategy(SingleDeviceStrategy):
    """One process; the model's stages stay on the devices they were placed on.

    The root device (where batches and metrics live) is the first stage's device, taken from the
    module's ``split_devices`` (or the accelerator's default pair).
    """

    strategy_name = "model_split"

    def __init__(self, checkpoint_io=None, precision_plugin=None) -> None:
        super().__init__(device="cpu", checkpoint_io=checkpoint_io, precision_plugin=precision_plugin)

    def stage_devices(self, module: nn.Module) -> list[str]:
        """The devices the module asked for, or two stages on this strategy's accelerator."""
        requested = getattr(module, "split_devices", None)
        if requested:
            return list(requested)
        kind = "cuda" if type(self.accelerator).__name__ == "CUDAAccelerator" else "cpu"
        return default_devices(kind)

    def connect(self, model) -> None:
        super().connect(model)
        self._root_device = torch.device(self.stage_devices(model)[0])

    def model_to_device(self) -> None:
        pipeline = getattr(self.lightning_module, "pipeline", None)
        placed = pipeline.modules() if pipeline is not None else set()
        _move_unplaced(self.model, placed, self.root_device)


def split_module(module: nn.Module, net: nn.Module, strategy: ModelSplitStrategy) -> Pipeline:
    """Cut ``net`` (the module's backbone) and place its stages; repeated calls re-place the same stages."""
    pipeline = getattr(module, "pipeline", None)
    if pipeline is None:
        pipeline = Pipeline.cut(net, strategy.stage_devices(module), getattr(module, "micro_batches", 1))
    pipeline.place()
    return pipeline

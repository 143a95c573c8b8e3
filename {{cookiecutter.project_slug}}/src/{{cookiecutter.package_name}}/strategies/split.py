"""Manual model parallelism: cut a chain of modules into stages on listed devices and pipeline micro-batches.

A network too large for one device is cut into consecutive stages, each placed on its own device;
activations cross devices between stages. Run naively, only one device works at a time. GPipe splits
each batch into ``micro_batches`` chunks and feeds them through the stages in a wavefront, so stage 2
works on chunk 1 while stage 1 works on chunk 2; the idle share (the "bubble") falls from
``(S-1)/S`` to ``(S-1)/(M+S-1)`` for ``S`` stages and ``M`` micro-batches. CUDA launches are
asynchronous, so a single Python process keeps all GPUs busy; on CPU the stages run one after another.

:class:`ModelSplitStrategy` finds the chain in any LightningModule (:mod:`{{ cookiecutter.package_name }}.strategies.chain`),
replaces the chain's forward with a :class:`Pipeline`, and leaves the placed stages where they are
(Lightning would move the whole model to one device).
"""

from __future__ import annotations

import torch
from pytorch_lightning.strategies import SingleDeviceStrategy
from torch import nn

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.strategies.chain import Chain, find_chain, sample_input, segments


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
        return cls.from_pieces(segments(net), devices, micro_batches)

    @classmethod
    def from_pieces(
        cls, pieces: list[nn.Module], devices: list[str | torch.device], micro_batches: int = 1
    ) -> Pipeline:
        """Group ``pieces`` (in forward order) into ``len(devices)`` consecutive stages balanced by parameter count."""
        if len(pieces) < len(devices):
            raise UserError(
                f"--trainer.strategy.devices: {len(devices)} devices but the model splits into only {len(pieces)} "
                "pieces; list fewer devices."
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
    """``stages`` stages on the accelerator: ``cpu, cpu`` on CPU; ``cuda:0, cuda:1`` (or ``cuda:0`` twice) on GPU."""
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
    _move_own_tensors(module, device)
    for child in module.children():
        _move_unplaced(child, placed, device)


def _move_own_tensors(module: nn.Module, device: torch.device) -> None:
    """The module's own parameters (in place, as ``Module.to`` does) and buffers, not its children's."""
    with torch.no_grad():
        for _, param in module.named_parameters(recurse=False):
            param.data = param.data.to(device)
            if param.grad is not None:
                param.grad = param.grad.to(device)
        for name, buffer in module.named_buffers(recurse=False):
            setattr(module, name, buffer.to(device))  # stays a buffer, persistent or not


def _names(stages: list[str] | str | None) -> list[str] | None:
    """``encoder,head`` (the flag's form) or ``[encoder, head]`` (YAML's) -> ``["encoder", "head"]``."""
    if stages is None:
        return None
    names = [s.strip() for s in (stages.split(",") if isinstance(stages, str) else stages) if s.strip()]
    if not names:
        raise UserError("--model_split.stages: empty; name the module's children in forward order (encoder,head).")
    return names


class ModelSplitStrategy(SingleDeviceStrategy):
    """One process; any LightningModule's chain of children cut into stages that stay where they are placed.

    Which chain (:func:`~{{ cookiecutter.package_name }}.strategies.chain.find_chain`): the children named by ``stages``, else the
    single ``nn.Sequential`` child holding (nearly) all parameters. Before the first stage runs, one batch
    checks that the pipelined module gives the outputs of the module as written. The root device (where
    batches, the loss and metrics live) is the first stage's device.

    Args:
        devices: one device per stage (``[cuda:0, cuda:1]``); ``None``: one stage per name in ``stages``
            (else two stages) on the accelerator.
        micro_batches: GPipe micro-batches per batch (1: stages run one batch after another).
        stages: names of the module's children that its forward runs one after another, in order
            (``encoder,head`` or a list); ``None`` cuts the one ``nn.Sequential`` child holding the parameters.
    """

    strategy_name = "model_split"

    def __init__(
        self,
        devices: list[str] | None = None,
        micro_batches: int = 1,
        stages: list[str] | str | None = None,
        checkpoint_io=None,
        precision_plugin=None,
    ) -> None:
        super().__init__(device="cpu", checkpoint_io=checkpoint_io, precision_plugin=precision_plugin)
        if micro_batches < 1:
            raise UserError(f"--trainer.strategy.micro_batches must be >= 1 (got {micro_batches}).")
        self.devices = list(devices) if devices else None
        self.micro_batches = micro_batches
        self.stages = _names(stages)
        self.pipeline: Pipeline | None = None
        self._chain: Chain | None = None
        self._first_stage: torch.device | None = None

    def stage_devices(self) -> list[str]:
        """The devices asked for, or one stage per named stage (two without names) on the accelerator."""
        if self.devices:
            return self.devices
        kind = "cuda" if type(self.accelerator).__name__ == "CUDAAccelerator" else "cpu"
        return default_devices(kind, len(self.stages) if self.stages else 2)

    def connect(self, model) -> None:
        super().connect(model)
        if self._chain is None or self._chain.owner is not model:
            # Before Lightning's setup hooks write anything: a module that cannot be split leaves no run behind.
            self._chain = find_chain(model, self.stages)
            self.pipeline = Pipeline.from_pieces(self._chain.pieces, self.stage_devices(), self.micro_batches)
        self._first_stage = torch.device(self.stage_devices()[0])

    @property
    def root_device(self) -> torch.device:
        """The first stage's device once the model is connected (where the batch goes), else the base's."""
        return self._first_stage if self._first_stage is not None else super().root_device

    def setup(self, trainer) -> None:
        assert self._chain is not None and self.pipeline is not None
        if not self._chain.installed:
            self._chain.install(self.pipeline, sample_input(trainer))
        self.pipeline.place()
        super().setup(trainer)

    def model_to_device(self) -> None:
        placed = self.pipeline.modules() if self.pipeline is not None else set()
        _move_unplaced(self.model, placed, self.root_device)


def apply_stages_flag(config) -> None:
    """Hand ``--model_split.stages a,b`` (the CLI's short form) to the model_split strategy's ``stages``."""
    stages = getattr(getattr(config, "model_split", None), "stages", None)
    if stages is None:
        return
    strategy = config.trainer.strategy
    if not str(getattr(strategy, "class_path", "")).endswith("ModelSplitStrategy"):
        raise UserError(f"--model_split.stages {stages}: needs --strategy model_split (this run: {strategy}).")
    strategy.init_args.stages = stages
    config.model_split.stages = None  # config.yaml keeps it in one place: a later `test --strategy auto` loads it

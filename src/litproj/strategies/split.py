"""Manual model parallelism: a chain of modules cut into stages on listed devices, with GPipe micro-batches.

Run naively, only one stage's device works at a time. GPipe feeds ``M`` micro-batches through ``S`` stages in a
wavefront, so the idle share falls from ``(S-1)/S`` to ``(S-1)/(M+S-1)``; CUDA's asynchronous launches let one
process keep every GPU busy. Lightning would move the whole model onto one device: :class:`ModelSplitStrategy`
leaves placed stages where they are.
"""

from __future__ import annotations

import itertools

import torch
from pytorch_lightning.accelerators import CUDAAccelerator, MPSAccelerator
from pytorch_lightning.strategies import SingleDeviceStrategy
from torch import nn

from litproj.errors import UserError
from litproj.strategies.chain import Chain, find_chain, numel, sample_input, segments


def balanced_cuts(sizes: list[int], parts: int) -> list[int]:
    """Start index of each of ``parts`` non-empty contiguous groups of ``sizes``, each cut where the running
    total comes closest to the next even share."""
    prefix = [0, *itertools.accumulate(sizes)]
    cuts = [0]
    for k in range(1, parts):
        candidates = range(cuts[-1] + 1, len(sizes) - (parts - k) + 1)
        cuts.append(min(candidates, key=lambda c: abs(prefix[c] - prefix[-1] * k / parts)))
    return cuts


class Pipeline:
    """Runs ``stages`` on ``devices`` GPipe-style; the output lands on the input's device.

    Not an ``nn.Module``: the stages stay registered where they live, so the state dict (and every checkpoint)
    is the unsplit network's.
    """

    def __init__(self, stages: list[nn.Module], devices: list[torch.device], micro_batches: int = 1):
        self.stages = stages
        self.devices = devices
        self.micro_batches = micro_batches

    @classmethod
    def cut(cls, net: nn.Module, devices: list[str | torch.device], micro_batches: int = 1) -> Pipeline:
        return cls.from_pieces(segments(net), devices, micro_batches)

    @classmethod
    def from_pieces(
        cls, pieces: list[nn.Module], devices: list[str | torch.device], micro_batches: int = 1
    ) -> Pipeline:
        """Group ``pieces`` (in forward order) into one stage per device, balanced by parameter count."""
        if len(pieces) < len(devices):
            raise UserError(
                f"--trainer.strategy.devices: {len(devices)} devices but the model splits into only {len(pieces)} "
                "pieces; list fewer devices."
            )
        cuts = [*balanced_cuts([numel(piece) for piece in pieces], len(devices)), len(pieces)]
        stages = [nn.Sequential(*pieces[a:b]) for a, b in itertools.pairwise(cuts)]
        return cls(stages, [torch.device(d) for d in devices], micro_batches)

    def place(self) -> None:
        for stage, device in zip(self.stages, self.devices, strict=True):
            stage.to(device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        chunks = list(x.tensor_split(max(1, min(self.micro_batches, len(x)))))
        for clock in range(len(chunks) + len(self.stages) - 1):
            for s, (stage, device) in enumerate(zip(self.stages, self.devices, strict=True)):
                if 0 <= clock - s < len(chunks):  # the wavefront: stage s works on micro-batch clock - s
                    chunks[clock - s] = stage(chunks[clock - s].to(device, non_blocking=True))
        return torch.cat([chunk.to(x.device) for chunk in chunks])


def check_stage_device(device: str) -> str:
    """``device`` if this machine has it; else one line saying it cannot (before anything is placed)."""
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise UserError(f"--trainer.strategy.devices: '{device}' is not a device; use cpu, cuda:N or mps.") from None
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(
            f"--trainer.strategy.devices: {device}: this machine has no Apple MPS device; use cpu or cuda:N."
        )
    if parsed.type == "cuda" and (parsed.index or 0) >= torch.cuda.device_count():
        raise UserError(
            f"--trainer.strategy.devices: {device}: this machine has {torch.cuda.device_count()} CUDA device(s); "
            "list the ones it has (cuda:0, ...) or cpu."
        )
    return device


def _move_unplaced(module: nn.Module, placed: set[int], device: torch.device) -> None:
    """``module.to(device)`` for all but the ``placed`` modules (by id)."""
    if not any(id(m) in placed for m in module.modules()):
        module.to(device)  # Module.to, so that overrides (torchmetrics' states) move too
    elif id(module) not in placed:
        with torch.no_grad():  # the module's own parameters (in place, as Module.to does) and buffers
            for param in module.parameters(recurse=False):
                param.data = param.data.to(device)
                if param.grad is not None:
                    param.grad = param.grad.to(device)
            for name, buffer in module.named_buffers(recurse=False):
                setattr(module, name, buffer.to(device))  # stays a buffer, persistent or not
        for child in module.children():
            _move_unplaced(child, placed, device)


def _names(stages: list[str] | str | None) -> list[str] | None:
    """``encoder,head`` (the flag's form) or ``[encoder, head]`` (YAML's) -> ``["encoder", "head"]``."""
    if stages is None:
        return None
    names = [s.strip() for s in (stages.split(",") if isinstance(stages, str) else stages) if s.strip()]
    if not names:
        raise UserError("--model_split.stages: empty; name the module's children in forward order (encoder,head).")
    return names


class ModelSplitStrategy(SingleDeviceStrategy):
    """One process; any LightningModule's chain (:func:`~litproj.strategies.chain.find_chain`) cut into stages.

    The root device (where batches, the loss and metrics live) is the first stage's device.

    Args:
        devices: one device per stage (``[cuda:0, cuda:1]``); ``None``: one stage per name in ``stages``
            (else two stages) on the accelerator.
        micro_batches: GPipe micro-batches per batch (1: stages run one batch after another).
        stages: the children the module's forward runs one after another (``encoder,head`` or a list);
            ``None`` cuts the one ``nn.Sequential`` child holding the parameters.
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
        """Where the stages go: the listed devices, else the accelerator's (several GPUs in turn; Apple's one
        ``mps`` device holds every stage; the CPU otherwise)."""
        if self.devices:
            return self.devices
        count = len(self.stages) if self.stages else 2
        if isinstance(self.accelerator, CUDAAccelerator):  # cuda:0, cuda:1 (cuda:0 twice on one GPU)
            return [f"cuda:{i % max(1, torch.cuda.device_count())}" for i in range(count)]
        if isinstance(self.accelerator, MPSAccelerator):
            return ["mps"] * count
        return ["cpu"] * count

    def connect(self, model) -> None:
        super().connect(model)
        if self._chain is None or self._chain.owner is not model:
            # Before Lightning's setup hooks write anything: a module that cannot be split leaves no run behind.
            self._chain = find_chain(model, self.stages)
            devices = [check_stage_device(device) for device in self.stage_devices()]  # --plan may list others
            self.pipeline = Pipeline.from_pieces(self._chain.pieces, devices, self.micro_batches)
        self._first_stage = torch.device(self.stage_devices()[0])

    @property
    def root_device(self) -> torch.device:
        return self._first_stage if self._first_stage is not None else super().root_device

    def setup(self, trainer) -> None:
        assert self._chain is not None and self.pipeline is not None
        if not self._chain.installed:
            self._chain.install(self.pipeline, sample_input(trainer))
        self.pipeline.place()
        super().setup(trainer)

    def model_to_device(self) -> None:
        stages = self.pipeline.stages if self.pipeline is not None else []
        _move_unplaced(self.model, {id(m) for stage in stages for m in stage.modules()}, self.root_device)


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

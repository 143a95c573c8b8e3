"""Strategy presets (``configs/strategy/*.yaml``, ``--strategy NAME``) and the code Lightning lacks for them.

* :class:`DistributedCleanup`: clean exits of CPU (gloo) DDP runs.
* :class:`FullyShardedStrategy`: FSDP2 on CPU and GPU with wrap policy, mixed precision, checkpointing.
* :class:`SpawnDDPStrategy`: ddp_spawn that returns training progress to the launching process.
* :class:`ModelSplitStrategy` + :class:`Pipeline`: stages on several devices, GPipe micro-batches.
"""

from litproj.strategies.cleanup import DistributedCleanup
from litproj.strategies.fsdp import FullyShardedStrategy
from litproj.strategies.presets import list_presets, preset_path
from litproj.strategies.spawn import SpawnDDPStrategy
from litproj.strategies.split import ModelSplitStrategy, Pipeline

__all__ = [
    "DistributedCleanup",
    "FullyShardedStrategy",
    "ModelSplitStrategy",
    "Pipeline",
    "SpawnDDPStrategy",
    "list_presets",
    "preset_path",
]

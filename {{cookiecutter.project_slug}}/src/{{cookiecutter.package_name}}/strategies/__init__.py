"""Strategy presets (``configs/strategy/*.yaml``, ``--strategy NAME``) and the code Lightning lacks for them.

* :class:`DistributedCleanup`: clean exits of CPU (gloo) DDP runs.
* :class:`FullyShardedStrategy`: FSDP2 on CPU and GPU with wrap policy, mixed precision, checkpointing.
* :class:`SpawnDDPStrategy`: ddp_spawn that returns training progress to the launching process.
* :class:`ModelSplitStrategy` + :class:`Pipeline`: stages on several devices, GPipe micro-batches.
"""

from {{ cookiecutter.package_name }}.strategies.cleanup import DistributedCleanup
from {{ cookiecutter.package_name }}.strategies.fsdp import FullyShardedStrategy
from {{ cookiecutter.package_name }}.strategies.presets import list_presets, preset_path
from {{ cookiecutter.package_name }}.strategies.spawn import SpawnDDPStrategy
from {{ cookiecutter.package_name }}.strategies.split import ModelSplitStrategy, Pipeline

__all__ = [
    "DistributedCleanup",
    "FullyShardedStrategy",
    "ModelSplitStrategy",
    "Pipeline",
    "SpawnDDPStrategy",
    "list_presets",
    "preset_path",
]

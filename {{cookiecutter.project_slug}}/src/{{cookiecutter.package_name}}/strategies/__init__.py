"""Strategy presets (``configs/strategy/*.yaml``, ``--strategy NAME``) and the code Lightning lacks for them.

* :class:`DistributedCleanup`: clean exits of CPU (gloo) DDP runs.
* :class:`FullyShardedStrategy`: FSDP2 on CPU and GPU for any LightningModule, with wrap policy, mixed
  precision, activation checkpointing.
* :class:`SpawnDDPStrategy`: ddp_spawn that returns training progress to the launching process.
* :class:`ModelSplitStrategy` + :class:`Pipeline`: any module's chain of layers (its ``nn.Sequential``, or
  children named by ``stages``) in stages on several devices, GPipe micro-batches (``chain.py`` finds it).
* ``plan.py`` + ``measure.py``: ``--plan``, memory per device for every strategy without training.

A fork that needs none of these may delete the package with the preset files that name its classes.
"""

from {{ cookiecutter.package_name }}.strategies.cleanup import DistributedCleanup
from {{ cookiecutter.package_name }}.strategies.fsdp import FullyShardedStrategy
from {{ cookiecutter.package_name }}.strategies.presets import list_presets, preset_path
from {{ cookiecutter.package_name }}.strategies.spawn import SpawnDDPStrategy
from {{ cookiecutter.package_name }}.strategies.split import ModelSplitStrategy, Pipeline, apply_stages_flag

__all__ = [
    "DistributedCleanup",
    "FullyShardedStrategy",
    "ModelSplitStrategy",
    "Pipeline",
    "SpawnDDPStrategy",
    "apply_stages_flag",
    "list_presets",
    "preset_path",
]

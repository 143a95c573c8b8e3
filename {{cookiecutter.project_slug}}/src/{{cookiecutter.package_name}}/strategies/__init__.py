"""Strategy presets (``configs/strategy/*.yaml``, ``--strategy NAME``) and the code Lightning lacks for them:
clean gloo exits (cleanup), FSDP2 on CPU and GPU for any module (fsdp), ddp_spawn that returns training
progress (spawn), any module's chain of layers in pipelined stages on several devices (chain, split), and
``--plan``'s memory per device without training (plan, measure).

A fork that needs none of these may delete the package with the preset files that name its classes.
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

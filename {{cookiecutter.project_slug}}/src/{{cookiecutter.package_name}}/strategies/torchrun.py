"""Runs started by ``torchrun``: the Trainer's world is the one the launcher started.

torchrun starts ``--nproc_per_node`` processes on each of ``--nnodes`` nodes and tells every process its place
(``LOCAL_WORLD_SIZE``, ``WORLD_SIZE``). With {{ cookiecutter.package_name }}'s default ``--trainer.devices 1`` Lightning builds a
one-process Trainer in each of them: N copies of the whole job, each its own rank 0, each printing results.
"""

from __future__ import annotations

import os

from lightning_fabric.plugins.environments import TorchElasticEnvironment


def torchrun_world(trainer_config: dict, devices_given: bool, nodes_given: bool) -> dict:
    """``trainer_config`` with ``devices`` and ``num_nodes`` from torchrun's environment, unless the command line
    set them (then Lightning checks that they match the launcher's world)."""
    if not TorchElasticEnvironment.detect():
        return trainer_config
    per_node = int(os.environ["LOCAL_WORLD_SIZE"])
    world = int(os.environ.get("WORLD_SIZE", per_node))
    launched = {} if devices_given else {"devices": per_node}
    if not nodes_given:
        launched["num_nodes"] = max(1, world // per_node)
    return {**trainer_config, **launched}

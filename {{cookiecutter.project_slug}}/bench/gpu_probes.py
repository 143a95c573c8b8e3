"""The Python halves of ``bench/gpu_check.sh``: checks of issue-14 behaviour that differs on CUDA and needs more
than an exit code to judge. ``python bench/gpu_probes.py NAME RUNS_DIR`` runs one; exit 0 means PASS.

Kept in a file (not heredocs in the script) so that the CPU test suite compiles and imports every probe.
"""

from __future__ import annotations

import sys

import torch
from pytorch_lightning import Callback

from {{ cookiecutter.package_name }}.cli.runner import run

QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
SHORT = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1"]


class _LoaderSeen(Callback):
    """Records how the training loader was built (``pin_memory``, ``num_workers``) once fit starts."""

    def __init__(self) -> None:
        self.seen: dict = {}

    def on_train_start(self, trainer, pl_module) -> None:
        loader = trainer.train_dataloader
        self.seen = {"pin_memory": loader.pin_memory, "num_workers": loader.num_workers}


def pin_memory_follows_trainer(runs: str) -> None:
    """Item 4: on a GPU machine, a CPU run pins nothing (the GPU run is shown: digits may sit on the GPU, unpinned)."""
    seen = {}
    for accelerator in ("cpu", "gpu"):
        probe = _LoaderSeen()
        args = ["fit", "--runs_dir", runs, *QUIET, *SHORT, "--trainer.accelerator", accelerator]
        run(args, trainer_defaults={"callbacks": [probe]})
        seen[accelerator] = probe.seen
        print(f"accelerator={accelerator}: {probe.seen}")
    assert seen["cpu"].get("pin_memory") is False, seen


def cuda_rng_of_more_devices(runs: str) -> None:
    """Item 5: a checkpoint saved on more GPUs than this machine has restores the RNG of the devices here."""
    from {{ cookiecutter.package_name }}.reliability.checkpointing import rng_states, set_rng_states

    states = rng_states()
    here = len(states["cuda"])
    states["cuda"] = states["cuda"] + [states["cuda"][0].clone() for _ in range(here)]  # saved on 2x the devices
    set_rng_states(states)
    print(f"restored {len(states['cuda'])} saved CUDA generator states on {here} device(s)")


def oom_recovered(runs: str) -> None:
    """A real CUDA out-of-memory (MemoryHungryCNN, batch 2048: ~160 GB of activations) is retried with a smaller
    batch and the same effective batch (batch x accumulation)."""
    results = run([
        "fit", "--runs_dir", runs, *QUIET, *SHORT, "--model.backbone", "{{ cookiecutter.package_name }}.troubleshoot.demo.MemoryHungryCNN",
        "--data.batch_size", "2048", "--trainer.num_sanity_val_steps", "0", "--trainer.accelerator", "gpu",
    ])  # fmt: skip
    recovery = results["oom_recovery"]
    first = recovery["retries"][0]["error"]
    print("retries:", recovery["summary"], "| first error:", first[:120])
    assert "CUDA out of memory" in first and "simulated" not in first, "expected a real CUDA OOM"
    assert recovery["final_batch_size"] * recovery["final_accumulate_grad_batches"] == 2048


def empty_cache_frees_only_cached(runs: str) -> None:
    """Issue 17: ``torch.cuda.empty_cache()`` cannot free memory a tensor still uses; dropping the last reference
    frees it to PyTorch's cache (``memory_allocated`` falls) and ``empty_cache`` then hands the cached blocks back
    to the driver (``memory_reserved`` falls, the driver's free memory rises). Printed in MiB at each step."""
    mib = 2**20
    seen = {}

    def show(step: str) -> None:
        torch.cuda.synchronize()
        free, _ = torch.cuda.mem_get_info()
        seen[step] = (torch.cuda.memory_allocated(), torch.cuda.memory_reserved(), free)
        print(f"{step:<34} allocated {seen[step][0] / mib:8.1f}  reserved {seen[step][1] / mib:8.1f}  "
              f"driver free {free / mib:10.1f}")  # fmt: skip

    torch.cuda.empty_cache()
    show("start")
    tensor = torch.empty(512 * mib, dtype=torch.uint8, device="cuda")
    show("512 MiB tensor allocated")
    torch.cuda.empty_cache()
    show("empty_cache() with the tensor alive")
    del tensor
    show("del tensor (last reference)")
    torch.cuda.empty_cache()
    show("empty_cache() after del")
    grew = seen["512 MiB tensor allocated"][0] - seen["start"][0]
    assert grew >= 512 * mib and seen["empty_cache() with the tensor alive"][:2] == seen["512 MiB tensor allocated"][:2]
    assert seen["del tensor (last reference)"][0] == seen["start"][0]  # freed to the cache ...
    assert seen["del tensor (last reference)"][1] >= seen["start"][1] + 512 * mib  # ... which still holds it
    assert seen["empty_cache() after del"][1] == seen["start"][1]  # handed back to the driver


PROBES = {
    probe.__name__: probe
    for probe in (pin_memory_follows_trainer, cuda_rng_of_more_devices, oom_recovered, empty_cache_frees_only_cached)
}

if __name__ == "__main__":
    assert torch.cuda.is_available(), "these probes need a CUDA GPU"
    PROBES[sys.argv[1]](sys.argv[2])

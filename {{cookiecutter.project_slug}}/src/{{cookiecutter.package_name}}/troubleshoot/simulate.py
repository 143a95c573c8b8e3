"""Make an out-of-memory error happen on purpose, so recovery and the batch-size finder can be seen on a CPU."""

from __future__ import annotations

import torch
from pytorch_lightning.utilities.data import extract_batch_size
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from torch import nn

#: bytes per sample used to word the message like PyTorch's own (the size is made up; the batch is real).
_BYTES_PER_SAMPLE = 4 * 2**20


def batch_length(batch) -> int | None:
    """Samples in a batch by Lightning's own rule (the one ``self.log`` uses): the first dimension of the
    first tensor in a tensor, ``(x, y)`` tuple, ``{"x", "y"}`` dict or dataclass; None when it holds no tensor."""
    try:
        return extract_batch_size(batch)
    except (MisconfigurationException, RecursionError):
        return None


def simulated_oom(samples: int, limit: int) -> torch.cuda.OutOfMemoryError:
    """An error that Lightning and {{ cookiecutter.package_name }} treat exactly like a real CUDA OOM (same type, same wording)."""
    wanted = samples * _BYTES_PER_SAMPLE / 2**20
    return torch.cuda.OutOfMemoryError(
        f"CUDA out of memory. Tried to allocate {wanted:.2f} MiB. GPU 0 has a total capacity of "
        f"{limit * _BYTES_PER_SAMPLE / 2**20:.2f} MiB of which 0 bytes is free. "
        f"(simulated by --simulate_oom_above {limit}: a batch of {samples} samples reached the model)"
    )


def install_simulated_oom(model: nn.Module, max_samples: int) -> list:
    """Make ``model`` raise a CUDA out-of-memory error whenever a batch larger than ``max_samples`` reaches it.

    Forward pre-hooks on the module and its direct children (not a callback: Lightning's tuner runs its
    trials without callbacks, and the batch-size finder must see these errors too), so every stage,
    whether the step calls ``self(x)`` or ``self.net(x)``, meets the limit. Returns the hook handles.
    """

    def check(module: nn.Module, args: tuple, kwargs: dict) -> None:
        # The first input is the batch (``self(x)``, ``self(batch)``, ``self(x=x)``); later ones may be masks or flags.
        inputs = (*args, *kwargs.values())
        samples = batch_length(inputs[0]) if inputs else None
        if samples is not None and samples > max_samples:
            raise simulated_oom(samples, max_samples)

    return [m.register_forward_pre_hook(check, with_kwargs=True) for m in (model, *model.children())]

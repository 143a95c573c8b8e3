"""What ``--plan`` measures on any LightningModule without training: optimizer states, an example input and
the activations of one forward pass on PyTorch's meta device (nothing is computed or allocated)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from {{ cookiecutter.package_name }}.strategies.chain import batch_input


def optimizer_states_per_param(module) -> int | None:
    """Parameter-sized tensors the module's optimizer keeps (AdamW: 2), from one step of a fresh optimizer of
    the same class and settings on a probe; ``None`` if it cannot be built."""
    probe = nn.Parameter(torch.zeros(1000))
    try:
        factory = getattr(module, "optimizer_factory", None)
        if factory is not None:
            optimizer = factory([probe], lr=1e-3)
        else:
            configured = module.configure_optimizers()  # an optimizer, or a list, tuple or dict holding one
            while not isinstance(configured, torch.optim.Optimizer):
                configured = configured["optimizer"] if isinstance(configured, dict) else configured[0]
            optimizer = type(configured)([probe], **configured.defaults)
        probe.grad = torch.ones_like(probe)
        optimizer.step()
    except Exception:  # a configure_optimizers that needs a Trainer, or no optimizer at all
        return None
    return sum(1 for v in optimizer.state[probe].values() if torch.is_tensor(v) and v.numel() == probe.numel())


def example_input(module, data) -> tuple[torch.Tensor | None, str | None]:
    """A meta tensor shaped like one training batch's input (``example_input_array`` at the data's batch size,
    else one batch of the train loader), or ``None`` and the reason."""
    batch = getattr(data, "batch_size", None)
    found = getattr(module, "example_input_array", None)
    if not torch.is_tensor(found):
        try:
            data.setup("fit")
            found = batch_input(next(iter(data.train_dataloader())))
        except Exception as err:
            return None, f"activations: no example_input_array and no train batch ({type(err).__name__}: {err})"
    if found is None:
        return None, "activations: the train batch holds no input tensor; set example_input_array in the module"
    shape = (int(batch), *found.shape[1:]) if isinstance(batch, int) else tuple(found.shape)
    return torch.empty(shape, dtype=found.dtype, device="meta"), None


def activation_bytes(module: nn.Module, sample: torch.Tensor, bytes_per_element: int) -> dict[int, float]:
    """Output bytes of every leaf module for one forward pass of ``sample``, keyed by ``id`` of the module."""
    meta = copy.deepcopy(module).to("meta")
    originals = dict(zip((id(m) for m in meta.modules()), (id(m) for m in module.modules()), strict=True))
    sizes: dict[int, float] = {}

    def record(leaf, inputs, output):
        if torch.is_tensor(output):
            sizes[originals[id(leaf)]] = float(output.numel() * bytes_per_element)

    for leaf in (m for m in meta.modules() if not list(m.children())):
        leaf.register_forward_hook(record)  # on the copy, discarded after: no hook to remove
    with torch.no_grad():
        meta.train()(sample)
    return sizes

"""Find the classic memory leak of a training loop: tensors that keep their autograd graph alive across steps.

``self.total_loss += loss`` looks harmless, but ``total_loss`` then carries ``loss``'s graph, and the
next step chains its own graph onto it: nothing is ever freed.
"""

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from pytorch_lightning import Callback
from torch import nn

from {{ cookiecutter.package_name }}.errors import say
from {{ cookiecutter.package_name }}.troubleshoot.memory import current_mb, read_memory

_SKIP = {"_modules", "_parameters", "_buffers", "_trainer"}
_MAX_ITEMS = 10_000
_MAX_NODES = 100_000


@dataclass
class GraphHolder:
    tensors: int
    nodes: int
    grad_fn: str


def _tensors(value, depth: int = 0) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif depth < 2 and isinstance(value, (dict, list, tuple, set, frozenset, deque)):
        for item in list(value.values() if isinstance(value, dict) else value)[:_MAX_ITEMS]:
            yield from _tensors(item, depth + 1)


def graph_size(roots: Iterable) -> int:
    """Autograd nodes reachable from ``roots`` (capped), the measure of how much a held graph keeps alive."""
    seen: set[int] = set()
    stack = [r for r in roots if r is not None]
    while stack and len(seen) < _MAX_NODES:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(n for n, _ in node.next_functions if n is not None)
    return len(seen)


def graph_holders(module: nn.Module) -> dict[str, GraphHolder]:
    """``"LeakyClassifier.total_loss" -> GraphHolder`` for every module attribute that holds a graph."""
    found = {}
    for prefix, submodule in module.named_modules():
        for attr, value in vars(submodule).items():
            if attr in _SKIP or isinstance(value, nn.Module):
                continue
            grad_fns = [t.grad_fn for t in _tensors(value) if t.grad_fn is not None]
            if grad_fns:
                path = ".".join(p for p in (type(module).__name__, prefix, attr) if p)
                found[path] = GraphHolder(len(grad_fns), graph_size(grad_fns), type(grad_fns[0]).__name__)
    return found


def steady_growth(samples: list[tuple[int, float]], min_growth_mb: float) -> tuple[int, int, float] | None:
    """``(first step, last step, MB)`` when memory rose in at least 3 of 4 intervals and by ``min_growth_mb``."""
    if len(samples) < 3:
        return None
    deltas = [b[1] - a[1] for a, b in zip(samples, samples[1:], strict=False)]
    growth = samples[-1][1] - samples[0][1]
    if sum(d > 0 for d in deltas) >= 0.75 * len(deltas) and growth >= min_growth_mb:
        return samples[0][0], samples[-1][0], growth
    return None


def advice(path: str, now: GraphHolder, before: GraphHolder, steps: int) -> str:
    """The warning for a growing graph holder: what it holds, how it grew, and the fix."""
    if now.tensors > before.tensors:
        grew = f"holds {now.tensors} tensors with grad_fn ({now.tensors - before.tensors} more than {steps} steps ago)"
        fix = "store `x.detach()` (or `x.item()` for a number) and clear it every epoch"
    else:
        grew = f"holds a tensor with grad_fn={now.grad_fn} whose graph grew from {before.nodes} to {now.nodes} nodes"
        fix = "accumulate a number with `loss.item()` (or a graph-free tensor with `loss.detach()`)"
    return (
        f"leak detector: {path} {grew} in {steps} steps, keeping every step's autograd graph alive across "
        f"steps; {fix} instead."
    )


class LeakDetector(Callback):
    """Warn about memory leaks while training, naming the module attribute that keeps graphs alive.

    Args:
        every_n_steps: check every N training steps; 0 turns the detector off.
        warmup_steps: ignore memory during the first steps (allocator caches and optimizer state fill up).
        window: memory samples (one per check) that must rise steadily before warning.
        min_growth_mb: the rise over the window that counts as a leak.
    """

    def __init__(self, every_n_steps: int = 10, warmup_steps: int = 20, window: int = 8, min_growth_mb: float = 50.0):
        self.every_n_steps, self.warmup_steps = every_n_steps, warmup_steps
        self.window, self.min_growth_mb = window, min_growth_mb
        self.findings: dict[str, str] = {}
        self.growth: tuple[int, int, float] | None = None
        self._steps = 0
        self._previous: dict[str, GraphHolder] = {}
        self._samples: list[tuple[int, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._steps += 1
        if not self.every_n_steps or self._steps % self.every_n_steps:
            return
        holders = graph_holders(pl_module)
        for path, now in holders.items():
            before = self._previous.get(path, now)  # a new holder has not grown yet
            if path not in self.findings and (now.tensors > before.tensors or now.nodes > before.nodes):
                self.findings[path] = advice(path, now, before, self.every_n_steps)
                say(self.findings[path], "warning")
        self._previous = holders
        if self._steps <= self.warmup_steps:
            return
        self._samples.append((self._steps, current_mb(read_memory(trainer.strategy.root_device))))
        growth = steady_growth(self._samples[-self.window :], self.min_growth_mb)
        if growth is None or self.growth is not None:
            return
        self.growth = growth
        first, last, mb = growth
        cause = (
            f"; the cause found: {', '.join(self.findings)}"
            if self.findings
            else "; no module attribute holds an autograd graph, so look for tensors kept outside the module "
            "(callbacks, globals, caches never cleared) and `del` what is no longer needed"
        )
        say(f"leak detector: memory grew steadily by {mb:.0f} MB over steps {first}-{last}{cause}.", "warning")

    def {{ cookiecutter.package_name }}_report(self) -> dict:
        if not self.findings and self.growth is None:
            return {}
        summary = ", ".join(self.findings) or "memory grows steadily"
        grown = {"memory_growth_mb": round(self.growth[2], 1)} if self.growth else {}
        return {"leak_detector": {"summary": f"leak: {summary}", "findings": list(self.findings.values()), **grown}}

"""Explain the errors that stump people: what a cryptic CUDA/NCCL/shape message usually means, and the fix."""

import contextlib
import re
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass

from litproj.errors import UserError


@dataclass(frozen=True)
class Explanation:
    pattern: str  # searched in "ErrorType: message", ignoring case
    title: str
    why: str
    fix: str


_KNOWN = [
    Explanation(
        r"CUDA out of memory|CUDA error: out of memory|OutOfMemoryError",
        "CUDA out of memory",
        "the batch, the model or memory kept from earlier steps no longer fits on the GPU.",
        "let litproj shrink the batch (--oom_recovery true), or find one that fits (--find_batch_size power); "
        "halve --data.batch_size and double --trainer.accumulate_grad_batches by hand (automatic optimization "
        "only); train in --trainer.precision bf16-mixed or 16-mixed; check the leak detector's warnings for "
        "tensors kept across steps; PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True helps when memory is fragmented.",
    ),
    Explanation(
        r"device-side assert",
        "CUDA device-side assert",
        "a kernel hit an invalid index, almost always a class label outside [0, num_classes) reaching "
        "the loss (or an index beyond an embedding); CUDA reports it later, at an unrelated line.",
        "rerun with CUDA_LAUNCH_BLOCKING=1 to see the real line, or on the CPU (--trainer.accelerator cpu), "
        "which names the bad target; check that the model's number of classes (--model.num_classes for "
        "litproj's ImageClassifier) covers every label.",
    ),
    Explanation(
        r"Target -?\d+ is out of bounds",
        "label out of range",
        "a class label is negative or not smaller than the number of classes the model predicts.",
        "fix the labels, or give the model's output layer a class for each of them (--model.num_classes for "
        "litproj's ImageClassifier; litproj's datamodules check labels before training).",
    ),
    Explanation(
        r"CUDNN_STATUS_NOT_INIT|CUDNN_STATUS_INTERNAL_ERROR|cuDNN error",
        "cuDNN failed to initialise",
        "cuDNN could not start: usually the GPU was already full when it tried (another process, or "
        "this one after an OOM), or the installed torch build does not match the driver/cuDNN.",
        "check free memory with nvidia-smi and `litproj doctor`; stop other GPU processes or lower the "
        "batch; reinstall a torch wheel built for your driver's CUDA version.",
    ),
    Explanation(
        r"NCCL.*(timeout|timed out)|Watchdog caught collective operation timeout",
        "NCCL timeout",
        "one rank stopped taking part in a collective: it crashed, ran fewer batches than the others, "
        "or waited in code only some ranks run (a rank-0-only block with a collective inside).",
        "rerun with NCCL_DEBUG=INFO to see which rank stalls; give every rank the same number of batches "
        "(Lightning's distributed sampler, drop_last); keep collectives out of rank-0-only code; on "
        "multi-node runs set NCCL_SOCKET_IFNAME; raise the timeout with DDPStrategy(timeout=...).",
    ),
    Explanation(
        r"mat1 and mat2 shapes cannot be multiplied",
        "shape mismatch in a Linear layer",
        "the features reaching a Linear layer (mat1's columns) differ from its in_features (mat2's rows): "
        "the inputs (images of another size or channel count, vectors of another length) differ from what "
        "the network was built for.",
        "run `python train.py --summary` to see every layer's shapes (set example_input_array in your "
        "module to get them); use a backbone that pools adaptively, or build the Linear for the real feature "
        "count (nn.LazyLinear infers it).",
    ),
]


def explain(error: BaseException) -> Explanation | None:
    """The explanation for ``error`` (or any error in its cause chain), if it is a known one."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text = f"{type(error).__name__}: {error}"
        for explanation in _KNOWN:
            if re.search(explanation.pattern, text, re.I | re.S):
                return explanation
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return None


@contextlib.contextmanager
def explain_errors(debug: bool = False) -> Iterator[None]:
    """Print the traceback of a known error, then its explanation (last on screen); exit with status 1 (re-raise
    with ``debug``). Unknown errors and :class:`UserError` (already one clear line) pass through untouched."""
    try:
        yield
    except Exception as err:
        explanation = None if isinstance(err, UserError) else explain(err)
        if explanation is None:
            raise
        if not debug:
            traceback.print_exc()
        print(f"\nlitproj: {explanation.title}: {explanation.why}\nfix: {explanation.fix}", file=sys.stderr, flush=True)
        if debug:
            raise
        raise SystemExit(1) from None

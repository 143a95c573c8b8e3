"""``--model.compile true`` against eager: compile time and steady-state training step time.

Both variants are the same ``ImageClassifier`` trained by the same ``Trainer`` on synthetic images, with
only ``compile`` differing. A callback times every training step (forward, backward, optimizer step and
Lightning's work around them). The first step of the compiled model includes the compile; the compile time
is that step minus the eager model's first step. Steady state is the median of the steps after ``--warmup``.
The variants run interleaved (the order rotates each repetition) and ``torch.compiler.reset()`` before each
compiled fit makes every repetition compile again. The inductor's on-disk cache is off (``--cache`` keeps it),
so the compile time is what a user waits the first time.

    python bench/compile.py                                 # small CNN, 32x32 images, CPU
    python bench/compile.py --backbone resnet18 --device cuda --mode max-autotune-no-cudagraphs
    python bench/compile.py --quick                         # one short repetition (smoke test)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if "--cache" not in sys.argv:  # must be set before torch is imported
    os.environ.setdefault("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")

import benchlib
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from {{ cookiecutter.package_name }}.module import ImageClassifier


class StepTimer(pl.Callback):
    """Wall seconds of every training step, synchronised with the device so queued GPU work is counted."""

    def __init__(self):
        self.seconds: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._sync(pl_module)
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._sync(pl_module)
        self.seconds.append(time.perf_counter() - self._start)

    @staticmethod
    def _sync(pl_module):
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)


def fit_once(args: argparse.Namespace, compiled: bool) -> list[float]:
    """One fit of ``args.steps`` steps; the seconds of each step."""
    if compiled:
        torch.compiler.reset()
    torch.manual_seed(0)
    size, channels = args.image_size, args.in_channels
    data = TensorDataset(
        torch.randn(args.batch_size * 4, channels, size, size), torch.randint(0, 10, (args.batch_size * 4,))
    )
    model = ImageClassifier(
        args.backbone, in_channels=channels, image_size=size, compile=compiled, compile_mode=args.mode, scheduler=None
    )
    timer = StepTimer()
    trainer = pl.Trainer(
        accelerator=args.device, devices=1, max_steps=args.steps, limit_val_batches=0, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
    )  # fmt: skip
    trainer.fit(model, DataLoader(data, batch_size=args.batch_size, shuffle=True, drop_last=True))
    return timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="small_cnn", help="--model.backbone (default small_cnn)")
    parser.add_argument("--image_size", type=int, default=32)
    parser.add_argument("--in_channels", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40, help="training steps per fit (default 40)")
    parser.add_argument("--warmup", type=int, default=5, help="steps left out of the steady state (default 5)")
    parser.add_argument("--reps", type=int, default=3, help="fits per variant (default 3)")
    parser.add_argument("--mode", default="default", help="torch.compile mode (--model.compile_mode)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--cache", action="store_true", help="keep the inductor's on-disk cache (warm compiles)")
    parser.add_argument("--quick", action="store_true", help="1 repetition of 8 steps: a smoke test")
    parser.add_argument("--json", help="also write every repetition and the machine to this JSON file")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.steps, args.warmup = 1, 8, 2
    if args.threads:
        torch.set_num_threads(args.threads)

    runs = benchlib.interleave(
        {"eager": lambda: fit_once(args, False), "compiled": lambda: fit_once(args, True)},
        reps=args.reps,
        warmup=0,
    )
    first = {name: [steps[0] for steps in fits] for name, fits in runs.items()}
    steady = {name: [benchlib.median(steps[args.warmup :]) for steps in fits] for name, fits in runs.items()}
    compile_s = [c - e for c, e in zip(first["compiled"], first["eager"], strict=True)]
    ratio = benchlib.median(steady["compiled"]) / benchlib.median(steady["eager"])
    rows = [
        [name, f"{benchlib.median(first[name]):.2f}", f"{1000 * benchlib.median(steady[name]):.2f}",
         benchlib.spread([1000 * s for s in steady[name]])]
        for name in runs
    ]  # fmt: skip
    benchlib.print_table(
        f"torch.compile on {args.backbone}, batch {args.batch_size} of {args.in_channels}x{args.image_size}x"
        f"{args.image_size}, {args.device}, {torch.get_num_threads()} threads, mode {args.mode}",
        ["variant", "first step s", "steady ms/step (median)", "spread ms"],
        rows,
        caption=f"compile time {benchlib.median(compile_s):.1f} s (median of {args.reps}); "
        f"steady compiled/eager = {ratio:.2f}",
    )
    benchlib.save_json(
        args.json,
        {"args": vars(args), "machine": benchlib.machine(), "steps": runs, "compile_seconds": compile_s,
         "steady_ratio": ratio},
    )  # fmt: skip


if __name__ == "__main__":
    main()

"""The troubleshooting flags of ``train.py``, added to LightningCLI's parser in one call."""

from typing import Literal

from jsonargparse.typing import NonNegativeInt, PositiveInt

from {{ cookiecutter.package_name }}.troubleshoot.leak import LeakDetector
from {{ cookiecutter.package_name }}.troubleshoot.memory import MemoryMonitor


def add_troubleshooting_arguments(parser) -> None:
    """The flags, and the ``--memory_monitor.*`` / ``--leak_detector.*`` callbacks that every Trainer gets."""
    parser.add_argument(
        "--find_batch_size",
        type=Literal["power", "binsearch"] | None,
        default=None,
        help="Search the largest batch that fits before training (Lightning's tuner), then train with it.",
    )
    parser.add_argument(
        "--find_batch_size_max",
        type=PositiveInt,
        default=8192,
        help="Upper bound of the batch-size search (a CPU never runs out of memory; the train set also caps it).",
    )
    parser.add_argument(
        "--oom_recovery",
        type=bool | None,
        default=None,
        help="On CUDA out-of-memory: halve the batch, double accumulation, resume (default: on for GPU runs).",
    )
    parser.add_argument(
        "--simulate_oom_above",
        type=NonNegativeInt | None,
        default=None,
        help="Raise a CUDA out-of-memory error for any batch larger than this (to see recovery on a CPU).",
    )
    for switch, text in (
        ("--find_lr", "Run the learning-rate finder, save lr_find.png, train with it."),
        ("--summary", "Print every layer with input/output shapes, then exit (--summary alone means true)."),
    ):
        parser.add_argument(switch, type=bool, nargs="?", const=True, default=False, help=text)
    parser.add_lightning_class_args(MemoryMonitor, "memory_monitor")
    parser.add_lightning_class_args(LeakDetector, "leak_detector")

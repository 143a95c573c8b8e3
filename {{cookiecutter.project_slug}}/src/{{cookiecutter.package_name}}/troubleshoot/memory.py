"""Watch memory per iteration: allocated / reserved / peak CUDA memory, or the process's resident memory on CPU."""

import psutil
import torch
from pytorch_lightning import Callback

MB = 2**20


def read_memory(device: torch.device) -> dict[str, float]:
    """Memory now, in MB: CUDA's allocated, reserved and peak-allocated on a GPU, else the process RSS."""
    if device.type == "cuda":
        return {
            "allocated_mb": torch.cuda.memory_allocated(device) / MB,
            "reserved_mb": torch.cuda.memory_reserved(device) / MB,
            "peak_mb": torch.cuda.max_memory_allocated(device) / MB,
        }
    return {"rss_mb": psutil.Process().memory_info().rss / MB}


def current_mb(reading: dict[str, float]) -> float:
    """The one number that tracks what training holds: allocated CUDA memory, or RSS on CPU."""
    return reading.get("allocated_mb", reading.get("rss_mb", 0.0))


class MemoryMonitor(Callback):
    """Log memory to the loggers (``memory/*``) and keep each epoch's peak for the summary and results.json.

    Lightning's ``DeviceStatsMonitor`` logs every allocator statistic (hundreds of series); this logs
    the three that answer "how close am I to out-of-memory, and is it growing?". The epoch peak is
    ``torch.cuda.max_memory_allocated`` since the epoch began on a GPU, the largest RSS sampled on a CPU.

    Args:
        every_n_steps: log every N training steps; 0 turns the monitor off.
    """

    def __init__(self, every_n_steps: int = 10):
        self.every_n_steps = every_n_steps
        self.peaks_mb: list[float] = []
        self.kind = ""
        self._epoch_peak = 0.0

    def _sample(self, trainer) -> dict[str, float]:
        device = trainer.strategy.root_device
        self.kind = "cuda max_memory_allocated" if device.type == "cuda" else "process RSS"
        reading = read_memory(device)
        self._epoch_peak = max(self._epoch_peak, reading.get("peak_mb", current_mb(reading)))
        return reading

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if not self.every_n_steps:
            return
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(trainer.strategy.root_device)
        self._epoch_peak = 0.0
        self._sample(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self.every_n_steps or (batch_idx + 1) % self.every_n_steps:
            return
        reading = self._sample(trainer)
        for logger in trainer.loggers:
            logger.log_metrics({f"memory/{k}": v for k, v in reading.items()}, step=trainer.global_step)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.every_n_steps:
            self._sample(trainer)
            self.peaks_mb.append(round(self._epoch_peak, 1))

    def {{ cookiecutter.package_name }}_report(self) -> dict:
        if not self.peaks_mb:
            return {}
        per_epoch = ", ".join(f"{p:.0f}" for p in self.peaks_mb[-6:])
        more = "…, " if len(self.peaks_mb) > 6 else ""
        return {
            "memory": {
                "summary": f"peak {max(self.peaks_mb):.0f} MB {self.kind} (per epoch: {more}{per_epoch})",
                "measure": self.kind,
                "peak_mb_per_epoch": self.peaks_mb,
            }
        }

"""Figures people would rather see than read: the test confusion matrix, as PNG and in TensorBoard."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch


def log_confusion_matrix(trainer, matrix: torch.Tensor, class_names: Sequence[str] | None = None) -> None:
    """Save ``confusion_matrix.png`` in the run directory and add it to every TensorBoard logger. Rows: true class;
    counts in the cells while they stay readable (up to 30 classes).

    The figure is rendered once and both outputs take its pixels: ``savefig`` and TensorBoard's ``add_figure``
    would each draw it again (a third of a second for a 10-class matrix on a laptop CPU).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.image import imsave

    n = matrix.shape[0]
    names = list(class_names) if class_names else [str(i) for i in range(n)]
    size = max(4.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix.cpu().numpy(), cmap="Blues")
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true", title="test confusion matrix")
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_yticklabels(names)
    high = matrix.max().item() / 2 if matrix.numel() else 0
    cells = [(i, j) for i in range(n) for j in range(n)] if n <= 30 else []
    for i, j in cells:
        value = int(matrix[i, j])
        ax.text(j, i, value, ha="center", va="center", color="white" if value > high else "black")
    fig.tight_layout()
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    plt.close(fig)
    # Not trainer.log_dir: it broadcasts from rank 0, a collective that hangs when only rank 0 calls it (DDP).
    if trainer.default_root_dir:
        Path(trainer.default_root_dir).mkdir(parents=True, exist_ok=True)
        imsave(Path(trainer.default_root_dir) / "confusion_matrix.png", pixels, dpi=100)
    for logger in trainer.loggers:
        experiment: Any = getattr(logger, "experiment", None)
        if hasattr(experiment, "add_image"):
            experiment.add_image("test/confusion_matrix", pixels, global_step=trainer.global_step, dataformats="HWC")

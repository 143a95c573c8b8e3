"""Lightning's tuner behind two flags: find the largest batch that fits, then a learning rate that learns."""

from __future__ import annotations

from pathlib import Path

from pytorch_lightning.tuner import Tuner

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.troubleshoot.report import RunNotes, say

_LR_STEPS = 100


def find_batch_size(trainer, model, datamodule, mode: str, max_val: int, notes: RunNotes) -> int:
    """Run Lightning's batch-size search (``power`` doubles until OOM, ``binsearch`` then narrows it down).

    A CPU never reports running out of memory, so the search also stops at ``max_val`` and at the size
    of the training set (Lightning stops once a batch would hold the whole set).
    """
    before = getattr(datamodule, "batch_size", None)
    if not isinstance(before, int):
        raise UserError(f"--find_batch_size: {type(datamodule).__name__} has no batch_size attribute to tune.")
    found = Tuner(trainer).scale_batch_size(
        model, datamodule=datamodule, mode=mode, max_val=max_val, steps_per_trial=3, init_val=2
    )
    datamodule.batch_size = found
    say(f"batch-size finder ({mode}): batch size {found} (configured: {before}); training with it.")
    notes.add("batch_size_finder", summary=f"{mode}: {found} (configured {before})", mode=mode, batch_size=found)
    return found


def find_lr(trainer, model, datamodule, run_dir: Path, notes: RunNotes) -> float | None:
    """Run Lightning's learning-rate range test, train with its suggestion, and save the plot as ``lr_find.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    max_epochs = trainer.fit_loop.max_epochs
    # The range test needs its steps even when --trainer.max_epochs allows fewer (an epoch has at least one step).
    trainer.fit_loop.max_epochs = max(max_epochs, _LR_STEPS)
    try:
        finder = Tuner(trainer).lr_find(model, datamodule=datamodule, num_training=_LR_STEPS, update_attr=True)
    except AttributeError as err:
        raise UserError(
            f"--find_lr: {type(model).__name__} needs an `lr` or `learning_rate` attribute or hyperparameter."
        ) from err
    finally:
        trainer.fit_loop.max_epochs = max_epochs
    suggestion = finder.suggestion() if finder is not None else None
    plot = Path(run_dir) / "lr_find.png"
    if finder is not None:
        fig = finder.plot(suggest=suggestion is not None)
        plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot, dpi=100)
        plt.close(fig)
    if suggestion is None:
        say("learning-rate finder: no clear suggestion (the loss never fell steadily); keeping the configured lr.")
    else:
        say(f"learning-rate finder: lr {suggestion:.3g}; training with it (plot: {plot}).")
    notes.add(
        "lr_finder",
        summary=f"lr {suggestion:.3g} (plot: {plot.name})" if suggestion else "no suggestion",
        lr=suggestion,
        plot=str(plot) if plot.is_file() else None,
    )
    return suggestion

"""Lightning's tuner behind two flags: find the largest batch that fits, then a learning rate that learns."""

from pathlib import Path

from pytorch_lightning.tuner import Tuner
from pytorch_lightning.utilities.parsing import lightning_hasattr

from litproj.errors import UserError, say
from litproj.troubleshoot.oom import require_batch_size, set_batch_size

_LR_STEPS = 100
_NO_BATCH = "to tune; give it an int `batch_size` its dataloaders read."


def check_finders(model, datamodule, find_batch_size: str | None, find_lr: bool) -> str | None:
    """Refuse a finder that cannot work on this module or DataModule before anything runs; return the name the
    lr finder sets (``lr`` or ``learning_rate``, in Lightning's order) when ``find_lr``."""
    if find_batch_size:
        require_batch_size(datamodule, "--find_batch_size", _NO_BATCH)
    if not find_lr:
        return None
    name = type(model).__name__
    if not model.automatic_optimization:
        raise UserError(
            f"--find_lr: {name} optimizes manually (automatic_optimization = False), and Lightning's learning-rate "
            "finder changes the lr only under automatic optimization; choose the lr by hand."
        )
    for attr in ("lr", "learning_rate"):
        if lightning_hasattr(model, attr):
            return attr
    raise UserError(f"--find_lr: {name} needs an `lr` or `learning_rate` attribute or hyperparameter.")


def find_batch_size(trainer, model, datamodule, mode: str, max_val: int) -> dict:
    """Run Lightning's batch-size search; a CPU never runs out of memory, so it also stops at ``max_val``
    and at the size of the training set. Returns the ``batch_size_finder`` section of results.json."""
    before = require_batch_size(datamodule, "--find_batch_size", _NO_BATCH)
    found = Tuner(trainer).scale_batch_size(
        model, datamodule=datamodule, mode=mode, max_val=max_val, steps_per_trial=3, init_val=2
    )
    found = int(found if found is not None else before)  # None only under fast_dev_run, which skips the search
    set_batch_size(datamodule, found)
    say(f"batch-size finder ({mode}): batch size {found} (configured: {before}); training with it.")
    return {"summary": f"{mode}: {found} (configured {before})", "mode": mode, "batch_size": found}


def find_lr(trainer, model, datamodule, run_dir: Path, attr: str = "lr") -> dict:
    """Run Lightning's learning-rate range test, set its suggestion on ``attr`` and save ``lr_find.png``; returns
    the ``lr_finder`` section of results.json (``lr`` is None without a clear suggestion)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    max_epochs = trainer.fit_loop.max_epochs
    # The range test needs its steps even when --trainer.max_epochs allows fewer (an epoch has at least one step).
    trainer.fit_loop.max_epochs = max(max_epochs, _LR_STEPS)
    try:
        finder = Tuner(trainer).lr_find(
            model, datamodule=datamodule, num_training=_LR_STEPS, update_attr=True, attr_name=attr
        )
    finally:
        trainer.fit_loop.max_epochs = max_epochs
    suggestion = finder.suggestion() if finder is not None else None
    suggestion = float(suggestion) if suggestion is not None else None
    plot = Path(run_dir) / "lr_find.png"
    if finder is not None:
        fig = finder.plot(suggest=suggestion is not None)
        plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot, dpi=100)
        plt.close(fig)
    if suggestion is None:
        say("learning-rate finder: no clear suggestion (the loss never fell steadily); keeping the configured lr.")
    else:
        say(f"learning-rate finder: {attr} {suggestion:.3g}; training with it (plot: {plot}).")
    return {
        "summary": f"{attr} {suggestion:.3g} (plot: {plot.name})" if suggestion else "no suggestion",
        "lr": suggestion,
        "attribute": attr,
        "plot": str(plot) if plot.is_file() else None,
    }

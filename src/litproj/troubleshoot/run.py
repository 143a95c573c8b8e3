"""How the troubleshooting kit wraps a run: checks before it, tuning and OOM recovery around ``fit``."""

from __future__ import annotations

from litproj.rundir import is_child_rank
from litproj.troubleshoot.oom import OOMRecovery, recovery_wanted
from litproj.troubleshoot.precision import check_precision
from litproj.troubleshoot.report import run_notes
from litproj.troubleshoot.saved_config import update_saved_config
from litproj.troubleshoot.shapes import check_shapes, print_summary
from litproj.troubleshoot.simulate import install_simulated_oom
from litproj.troubleshoot.tuning import find_batch_size, find_lr


def _image_hint(datamodule) -> str:
    size, channels = getattr(datamodule, "image_size", 0), getattr(datamodule, "in_channels", 0)
    return f" ({channels}-channel {size}x{size} images from {type(datamodule).__name__})" if size else ""


def preflight(cli) -> bool:
    """Checks every stage gets before it runs; returns True when nothing should run (``--summary`` printed).

    Raises:
        UserError: the backbone does not fit the images, or the precision cannot run on this hardware.
    """
    config, trainer, model = cli.config, cli.trainer, cli.model
    # A run that stops here leaves no empty run folder: the runner discards it (rundir.discard_if_empty).
    check_shapes(model, _image_hint(cli.datamodule))
    if config.summary:
        if not is_child_rank():
            print_summary(model)
        return True
    check_precision(config.trainer.precision, trainer, run_notes(trainer))
    if config.simulate_oom_above is not None:
        install_simulated_oom(model, config.simulate_oom_above)
    return False


def fit(cli) -> None:
    """``trainer.fit`` with the batch-size and learning-rate finders before it and OOM recovery around it."""
    config, trainer, model, data = cli.config, cli.trainer, cli.model, cli.datamodule
    notes = run_notes(trainer)
    saved: dict[str, object] = {}
    if config.find_batch_size:
        saved["data.init_args.batch_size"] = find_batch_size(
            trainer, model, data, config.find_batch_size, config.find_batch_size_max, notes
        )
        saved["find_batch_size"] = None
    if config.find_lr:
        lr = find_lr(trainer, model, data, cli.run_dir, notes)
        if lr is not None:
            saved["model.init_args.lr"] = lr
        saved["find_lr"] = False

    def run_fit(ckpt_path: str | None) -> None:
        trainer.fit(model, datamodule=data, ckpt_path=ckpt_path)

    if not recovery_wanted(config.oom_recovery, trainer, config.simulate_oom_above is not None):
        run_fit(cli.ckpt_path)
    else:
        batch, accumulation = getattr(data, "batch_size", None), trainer.accumulate_grad_batches
        recovery = OOMRecovery(trainer, model, data)
        recovery.run(run_fit, cli.ckpt_path)
        if recovery.retries:
            notes.add("oom_recovery", **recovery.report(batch or 0, accumulation))
            saved["data.init_args.batch_size"] = data.batch_size
            saved["trainer.accumulate_grad_batches"] = trainer.accumulate_grad_batches
    update_saved_config(cli.run_dir, saved)

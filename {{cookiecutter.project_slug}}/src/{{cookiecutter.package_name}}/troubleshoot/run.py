"""How the troubleshooting kit wraps a run: checks before it, tuning and OOM recovery around ``fit``."""

from __future__ import annotations

from {{ cookiecutter.package_name }}.rundir import is_child_rank
from {{ cookiecutter.package_name }}.troubleshoot.batch import batch_size_of, init_accepts
from {{ cookiecutter.package_name }}.troubleshoot.oom import OOMRecovery, recovery_wanted
from {{ cookiecutter.package_name }}.troubleshoot.precision import check_precision
from {{ cookiecutter.package_name }}.troubleshoot.report import run_notes
from {{ cookiecutter.package_name }}.troubleshoot.saved_config import update_saved_config
from {{ cookiecutter.package_name }}.troubleshoot.shapes import check_shapes, print_summary
from {{ cookiecutter.package_name }}.troubleshoot.simulate import install_simulated_oom
from {{ cookiecutter.package_name }}.troubleshoot.tuning import check_finders, find_batch_size, find_lr


def _image_hint(datamodule) -> str:
    """`` (1-channel 8x8 images from DigitsDataModule)`` from what the DataModule says about its inputs, if anything."""
    size, channels = getattr(datamodule, "image_size", None), getattr(datamodule, "in_channels", None)
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        size = (size, size)
    if not (isinstance(size, (tuple, list)) and size and all(isinstance(s, int) for s in size)):
        return ""
    prefix = f"{channels}-channel " if isinstance(channels, int) and channels > 0 else ""
    return f" ({prefix}{'x'.join(map(str, size))} images from {type(datamodule).__name__})"


def _config_key(section: str, obj, name: str) -> str | None:
    """``data.init_args.batch_size`` when ``obj``'s class takes ``name`` (else config.yaml cannot hold the value)."""
    return f"{section}.init_args.{name}" if init_accepts(obj, name) else None


def preflight(cli) -> bool:
    """Checks every stage gets before it runs; returns True when nothing should run (``--summary`` printed).

    Raises:
        UserError: the model does not fit its example input, or the precision cannot run on this hardware.
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
    """``trainer.fit`` with the batch-size and learning-rate finders before it and OOM recovery around it.

    Raises:
        UserError: before anything runs, when a finder or OOM recovery cannot work on this model or DataModule.
    """
    config, trainer, model, data = cli.config, cli.trainer, cli.model, cli.datamodule
    # Every refusal comes first, while nothing has run and the run folder is still empty.
    lr_attr = check_finders(model, data, config.find_batch_size, config.find_lr)
    recover = recovery_wanted(config.oom_recovery, trainer, config.simulate_oom_above is not None, data)
    notes = run_notes(trainer)
    saved: dict[str, object] = {}
    batch_key = _config_key("data", data, "batch_size")
    if config.find_batch_size:
        found = find_batch_size(trainer, model, data, config.find_batch_size, config.find_batch_size_max, notes)
        if batch_key:
            saved[batch_key] = found
        saved["find_batch_size"] = None
    if config.find_lr and lr_attr:
        lr = find_lr(trainer, model, data, cli.run_dir, notes, lr_attr)
        lr_key = _config_key("model", model, lr_attr)
        if lr is not None and lr_key:
            saved[lr_key] = lr
        saved["find_lr"] = False

    def run_fit(ckpt_path: str | None) -> None:
        trainer.fit(model, datamodule=data, ckpt_path=ckpt_path, weights_only=cli.weights_only)

    if not recover:
        run_fit(cli.ckpt_path)
    else:
        batch, accumulation = batch_size_of(data), trainer.accumulate_grad_batches
        recovery = OOMRecovery(trainer, model, data)
        recovery.run(run_fit, cli.ckpt_path)
        if recovery.retries:
            notes.add("oom_recovery", **recovery.report(batch or 0, accumulation))
            if batch_key:
                saved[batch_key] = batch_size_of(data)
            saved["trainer.accumulate_grad_batches"] = int(trainer.accumulate_grad_batches)
    update_saved_config(cli.run_dir, saved)

"""How the troubleshooting kit wraps a run: checks before it, tuning and OOM recovery around ``fit``."""

import inspect
from pathlib import Path

import yaml
from lightning_utilities.core.rank_zero import rank_zero_only
from pytorch_lightning import Callback

from litproj.rundir import is_child_rank
from litproj.troubleshoot.oom import OOMRecovery, batch_size_of, install_simulated_oom, recovery_wanted
from litproj.troubleshoot.precision import check_precision
from litproj.troubleshoot.shapes import check_shapes, print_summary
from litproj.troubleshoot.tuning import check_finders, find_batch_size, find_lr


class RunNotes(Callback):
    """The troubleshooting sections of a run (OOM retries, finder results, precision) for results.json. A callback
    only so that the summary finds it through ``litproj_report()`` like every other contributor; it hooks into
    nothing. A section with a ``summary`` string also gets a row in the summary table."""

    def __init__(self) -> None:
        self.sections: dict[str, dict] = {}

    def add(self, name: str, **values) -> None:
        self.sections.setdefault(name, {}).update(values)

    def litproj_report(self) -> dict:
        return dict(self.sections)


def run_notes(trainer) -> RunNotes:
    """The run's :class:`RunNotes`, added to the trainer on first use."""
    notes = next((c for c in trainer.callbacks if isinstance(c, RunNotes)), None)
    if notes is None:
        notes = RunNotes()
        trainer.callbacks.append(notes)
    return notes


def _image_hint(datamodule) -> str:
    """`` (1-channel 8x8 images from DigitsDataModule)`` from what the DataModule says about its inputs, if anything."""
    size, channels = getattr(datamodule, "image_size", None), getattr(datamodule, "in_channels", None)
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        size = (size, size)
    if not (isinstance(size, (tuple, list)) and size and all(isinstance(s, int) for s in size)):
        return ""
    prefix = f"{channels}-channel " if isinstance(channels, int) and channels > 0 else ""
    return f" ({prefix}{'x'.join(map(str, size))} images from {type(datamodule).__name__})"


def preflight(cli) -> bool:
    """Checks every stage gets before it runs; returns True when nothing should run (``--summary`` printed)."""
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


def _config_key(section: str, obj, name: str) -> str | None:
    """``data.init_args.batch_size`` when ``type(obj)(batch_size=...)`` is valid, so config.yaml may hold it."""
    if obj is None or type(obj).__init__ is object.__init__:
        return None
    try:
        parameters = inspect.signature(type(obj).__init__).parameters.values()
    except (TypeError, ValueError):
        return None
    accepted = any(p.name == name or p.kind is p.VAR_KEYWORD for p in parameters)
    return f"{section}.init_args.{name}" if accepted else None


@rank_zero_only
def update_saved_config(run_dir: Path | str, changes: dict[str, object]) -> None:
    """Set dotted keys in ``run_dir/config.yaml``, so ``--config`` on it repeats the run that finished
    (not the one that ran out of memory) and ``test``/``predict`` from its checkpoints use a batch that fits."""
    path = Path(run_dir) / "config.yaml"
    if not changes or not path.is_file():
        return
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def fit(cli) -> None:
    """``trainer.fit`` with the batch-size and learning-rate finders before it and OOM recovery around it."""
    config, trainer, model, data = cli.config, cli.trainer, cli.model, cli.datamodule
    # Every refusal comes first, while nothing has run and the run folder is still empty.
    lr_attr = check_finders(model, data, config.find_batch_size, config.find_lr)
    recover = recovery_wanted(config.oom_recovery, trainer, config.simulate_oom_above is not None, data)
    notes = run_notes(trainer)
    saved: dict[str, object] = {}
    if config.find_batch_size:
        found = find_batch_size(trainer, model, data, config.find_batch_size, config.find_batch_size_max)
        notes.add("batch_size_finder", **found)
        saved["find_batch_size"] = None
    if lr_attr:  # set exactly when --find_lr
        notes.add("lr_finder", **find_lr(trainer, model, data, cli.run_dir, lr_attr))
        lr, lr_key = notes.sections["lr_finder"]["lr"], _config_key("model", model, lr_attr)
        if lr is not None and lr_key:
            saved[lr_key] = lr
        saved["find_lr"] = False
    if not recover:
        trainer.fit(model, datamodule=data, ckpt_path=cli.ckpt_path, weights_only=cli.weights_only)
    else:
        recovery = OOMRecovery(trainer, model, data)
        recovery.run(cli.ckpt_path, cli.weights_only)
        if recovery.retries:
            notes.add("oom_recovery", **recovery.report())
            saved["trainer.accumulate_grad_batches"] = int(trainer.accumulate_grad_batches)
    batch_key = _config_key("data", data, "batch_size")
    if batch_key and (config.find_batch_size or "trainer.accumulate_grad_batches" in saved):
        saved[batch_key] = batch_size_of(data)
    update_saved_config(cli.run_dir, saved)

"""The single path that builds (Trainer, LightningModule, LightningDataModule): train.py, search trials, tests and
benchmarks all go through :func:`build`, so each of them is exactly what ``python train.py`` runs."""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

from jsonargparse.typing import PositiveInt
from pytorch_lightning import LightningDataModule, Trainer
from pytorch_lightning.callbacks import LearningRateMonitor, ProgressBar
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from litproj import rundir
from litproj.cli.args import FIT_THEN_TEST, Invocation, flag_values
from litproj.cli.completion import PrintShtab
from litproj.cli.input_spec import follow_weights
from litproj.cli.parse_errors import constructor_error, explain, known_options
from litproj.cli.progress import CadencedRichProgressBar
from litproj.errors import UserError, lightning_info_to_stdout, say
from litproj.reliability.checkpoint_guard import verify_checkpoint
from litproj.reliability.checkpointing import LitCheckpoint, step_checkpoint
from litproj.reliability.hardening import DEFAULT_DIST_TIMEOUT, guard_callbacks, harden, timeout_into_config
from litproj.strategies import DistributedCleanup
from litproj.strategies.split import apply_stages_flag
from litproj.strategies.torchrun import torchrun_world
from litproj.tracking import FinalMetricsToHParams, Provenance, TrackerRuns
from litproj.tracking.loggers import forget_runs, place_loggers
from litproj.tracking.trackers import recorded_runs
from litproj.troubleshoot import add_troubleshooting_arguments
from litproj.troubleshoot.precision import strategy_precision_error

lightning_info_to_stdout()

#: The metric litproj's checkpoint callback watches unless told otherwise (it may fall back, LitCheckpoint).
DEFAULT_MONITOR = "val/acc"


class LitCLI(LightningCLI):
    """LightningCLI with litproj's run folders, presets, checkpointing defaults and one-line errors;
    ``trainer_defaults``: extra Trainer arguments (e.g. callbacks a search adds to every trial)."""

    #: Set while parsing (``before_instantiate_classes``), so always a folder once the CLI is built.
    run_dir: Path
    #: What the data took from pretrained weights (:mod:`litproj.cli.input_spec`), said once the build succeeds.
    input_note: str | None = None

    def __init__(self, invocation: Invocation, trainer_defaults: dict | None = None):
        self.invocation = invocation
        self.ckpt_path: str | None = None
        self.tracker_runs: dict = {}  # the tracker runs a resumed fit continues (trackers.recorded_runs)
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        super().__init__(
            datamodule_class=LightningDataModule,
            subclass_mode_data=True,
            seed_everything_default=42,
            trainer_defaults=trainer_defaults,
            save_config_kwargs={"overwrite": True},
            # allow_abbrev=False: a typo such as --trainer.max_epoch must fail, not abbreviate --trainer.max_epochs.
            parser_kwargs={
                "exit_on_error": False,
                "allow_abbrev": False,
                "default_config_files": [str(rundir.config_dir() / "default.yaml")],
            },
            args=invocation.args,
            run=False,
        )

    def add_default_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--seed_everything", "--seed", type=int, default=42, help="Seed for all RNGs.")

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--strategy", type=str, default="auto", help="Strategy preset (--strategy list).")
        parser.add_argument(
            "--name", type=str | None, default=None, help="Experiment name (default: last --config's stem)."
        )
        parser.add_argument(
            "--model_split.stages",
            type=str | None,
            default=None,
            help="model_split: the children your forward chains, in order (encoder,head).",
        )
        parser.add_argument("--runs_dir", type=str, default="runs", help="Runs go to RUNS_DIR/NAME/version_N.")
        parser.add_argument(
            "--ckpt_path", type=str | None, default=None, help="Checkpoint file, or 'last'/'best' of NAME."
        )
        parser.add_argument("--debug", type=bool, default=False, help="Show tracebacks instead of one line.")
        parser.add_argument("--print_shtab", action=PrintShtab)  # tab completion: ./train.py --print_shtab bash
        parser.add_argument(
            "--trust_checkpoint", type=bool, default=False, help="Unpickle --ckpt_path fully (can run its code)."
        )
        parser.add_argument(
            "--dist_timeout", type=PositiveInt, default=DEFAULT_DIST_TIMEOUT, help="Seconds a collective may wait."
        )
        parser.add_argument(
            "--plan", type=bool, nargs="?", const=True, default=False, help="Print settings and memory per device."
        )
        # The data decides what the model sees: classes, channels and image size are linked, not repeated.
        for attribute in ("num_classes", "in_channels", "image_size"):
            parser.link_arguments(f"data.{attribute}", f"model.init_args.{attribute}", apply_on="instantiate")
        parser.add_lightning_class_args(LitCheckpoint, "checkpoint")
        add_troubleshooting_arguments(parser)
        parser.set_defaults(
            {
                "checkpoint.monitor": DEFAULT_MONITOR,
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                "checkpoint.filename": "best-epoch{epoch:02d}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        try:
            super().parse_arguments(parser, args)
        except argparse.ArgumentError as err:
            raise UserError(explain(str(err), self.invocation.args, known_options(parser))) from err

    def instantiate_classes(self) -> None:
        cause = None
        try:
            super().instantiate_classes()
        except ValueError as err:
            cause = constructor_error(err, {group: self.config[group].class_path for group in ("model", "data")})
            if cause is None:
                raise
        if cause is not None:  # raised outside the except block: chained to its own wrapper it would make a cycle
            raise cause
        # The loggers hold the continued run ids now; config.yaml names settings, trackers.json the runs: a saved
        # config reused for another run folder (test --ckpt_path) must start its own tracker runs.
        forget_runs(self.config.trainer.logger, self.tracker_runs)
        strategy = self.trainer.strategy if self.trainer is not None else None  # no Trainer under --plan
        verify_checkpoint(self.ckpt_path, self.model, self.config.trust_checkpoint, strategy)
        if self.invocation.resume is not None:  # said once the checkpoint is known to load: a mistake stays one line
            self.invocation.resume.announce(self.invocation.stage)
        if self.input_note and not rundir.is_child_rank():
            say(self.input_note)

    @property
    def weights_only(self) -> bool:
        """How every ``trainer.fit/validate/test/predict`` loads a checkpoint: tensors only unless trusted."""
        return not self.config.trust_checkpoint

    def _resolve_checkpoint(self, value: str | None) -> str | None:
        if value in ("last", "best"):
            return str(rundir.latest_checkpoint(self.config.runs_dir, self.config.name, value))
        if value is not None and not Path(value).exists():
            raise UserError(f"--ckpt_path: checkpoint '{value}' does not exist.")
        return value

    def _choose_run_dir(self) -> Path:
        if self.config.plan:  # a plan writes nothing: the folder is named, never created
            return Path(self.config.runs_dir) / self.config.name / "plan"
        if rundir.is_child_rank():
            inherited = os.environ.get(rundir.RUN_DIR_ENV)
            return Path(inherited) if inherited else rundir.scratch_run_dir()
        resumed = self.ckpt_path if self.invocation.stage in ("fit", FIT_THEN_TEST) else None
        run_dir = rundir.run_dir_of(Path(resumed)) if resumed else None
        if self.invocation.run_dir is not None:  # chosen by the caller: cv's fold_<k> folders
            run_dir = self.invocation.run_dir
            run_dir.mkdir(parents=True, exist_ok=True)
        elif run_dir is None or not (run_dir / "config.yaml").is_file():  # resume in the checkpoint's run folder
            run_dir = rundir.new_run_dir(self.config.runs_dir, self.config.name)
        os.environ[rundir.RUN_DIR_ENV] = str(run_dir)
        return run_dir

    def before_instantiate_classes(self) -> None:
        config = self.config
        apply_stages_flag(config)
        timeout_into_config(config.trainer, config.dist_timeout)
        config.name = config.name or self.invocation.experiment
        self.ckpt_path = self._resolve_checkpoint(config.ckpt_path)
        self.run_dir = self._choose_run_dir()
        config.trainer.default_root_dir = str(self.run_dir)
        # One tracker run per training: a fit resumed in its checkpoint's run folder continues that folder's runs.
        if self.ckpt_path is not None and self.run_dir == rundir.run_dir_of(Path(self.ckpt_path)):
            self.tracker_runs = recorded_runs(self.run_dir, self.ckpt_path)
        config.trainer.logger = place_loggers(config.trainer.logger, self.run_dir, config.name, self.tracker_runs)
        config.checkpoint.dirpath = str(self.run_dir / "checkpoints")
        self.input_note = follow_weights(config, self.invocation.args, self.parser.default_config_files)

    def instantiate_trainer(self, **kwargs) -> Trainer | None:
        if self.config.plan:  # planning needs no Trainer (and may target devices this machine lacks)
            return None
        flagged = [bool(flag_values(self.invocation.args, f"--trainer.{key}")) for key in ("devices", "num_nodes")]
        trainer_config = torchrun_world(self.config_init.get("trainer", {}), *flagged)  # before the device checks
        trainer_config = harden(trainer_config, self.config.dist_timeout)
        callbacks = [self.config_init.get(key) for key in self.parser.callback_keys]
        for callback in callbacks:  # litproj's default monitor may fall back; one the user names wins
            if isinstance(callback, LitCheckpoint):
                named = flag_values(self.invocation.args, "--checkpoint.monitor")  # or in a config (a saved one)
                callback.fallback_monitor = not named and callback.monitor == DEFAULT_MONITOR
        # --checkpoint.every_n_steps: Lightning's ModelCheckpoint, placed after LitCheckpoint so that
        # trainer.checkpoint_callback (the best path, --ckpt_path best) stays LitCheckpoint.
        callbacks += [step for c in callbacks if isinstance(c, LitCheckpoint) and (step := step_checkpoint(c))]
        callbacks += [FinalMetricsToHParams(), TrackerRuns(), DistributedCleanup(), *guard_callbacks()]
        callbacks.append(Provenance(self.run_dir, self.invocation.args))  # code and packages of the run
        if trainer_config.get("logger") not in (False, None, []):
            callbacks.append(LearningRateMonitor(logging_interval="step"))
        given = [*callbacks, *(trainer_config.get("callbacks") or []), *self.trainer_defaults.get("callbacks", [])]
        # The parser's default for enable_progress_bar is None, which Lightning treats as "on".
        if trainer_config.get("enable_progress_bar") is not False and not any(
            isinstance(c, ProgressBar) for c in given
        ):
            callbacks.append(CadencedRichProgressBar(leave=True))
        try:
            return self._instantiate_trainer({**trainer_config, **kwargs}, callbacks)
        except (MisconfigurationException, ValueError) as err:  # Lightning's checks of the Trainer arguments
            raise strategy_precision_error(trainer_config, err) or UserError(f"--trainer: {err}") from err


def build(invocation: Invocation, trainer_defaults: dict | None = None) -> LitCLI:
    """Parse ``invocation`` and instantiate the Trainer, model and datamodule (``cli.trainer`` etc.)."""
    return LitCLI(invocation, trainer_defaults)

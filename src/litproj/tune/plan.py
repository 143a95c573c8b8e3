"""Everything tune.py decides before Ray starts, each mistake caught here as one line, and ``best.yaml``.

Searcher and scheduler names, the space file, the train.py overrides and the space's keys (parsed by
train.py's own parser, so a typo fails once instead of in every trial), resources and budget. The parsed
config gives the search its defaults (metric, epochs, seed) and, for the best trial, ``best.yaml``.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from jsonargparse import Namespace

from litproj.cli.app import LitCLI
from litproj.cli.args import prepare
from litproj.errors import UserError
from litproj.rundir import new_run_dir
from litproj.tune import space as spaces
from litproj.tune.methods import VARIANT_GENERATOR, check_searcher, check_searcher_packages, resolve_scheduler
from litproj.tune.metric import choose_metric, logged_metrics
from litproj.tune.options import flag_name

OPTIONS_FILE = "tune_options.json"


@dataclass
class Plan:
    """A checked search: what Ray needs to run it and what the summary needs to report it."""

    options: Namespace
    scheduler: str
    space: dict
    metric: str
    mode: str
    max_epochs: int
    num_samples: int
    resources: dict
    config: Namespace  # train.py's, with the first set of the space's values
    search_dir: Path | None = None

    @property
    def train_args(self) -> list[str]:
        """The user's train.py overrides, with the checkpoint kept by the search's metric (trials, best.yaml)."""
        return [*user_train_args(self.options), "--checkpoint.monitor", self.metric, "--checkpoint.mode", self.mode]

    @property
    def enumerates_grid(self) -> bool:
        return self.options.search in VARIANT_GENERATOR

    def expected_trials(self) -> int:
        """Trials a finished search has: samples times the grid's points (Ray's variant generator)."""
        points = [len(v["grid"]) for v in self.space.values() if isinstance(v, dict) and "grid" in v]
        return self.num_samples * (math.prod(points) if self.enumerates_grid else 1)


def parse_resources(text: str) -> dict[str, float]:
    """``cpu=1,gpu=0.5`` -> ``{"cpu": 1.0, "gpu": 0.5}``."""
    resources = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not key or number < 0:
            raise UserError(f"--trial_resources: expected KEY=NUMBER pairs such as cpu=1,gpu=0.5, got '{text}'.")
        resources[key.strip().lower()] = number
    resources.setdefault("cpu", 1.0)
    return resources


def user_train_args(options: Namespace) -> list[str]:
    """The train.py overrides; a finer search (``--around best.yaml``) starts every trial from that config."""
    around = getattr(options, "around", None)
    return ["--config", str(around), *options.train_args] if around else list(options.train_args)


def around_space(options: Namespace, grid: bool) -> dict:
    """The space of the search that wrote ``--around``'s best.yaml, narrowed around its best values."""
    folder = Path(str(options.around)).parent
    if not all(p.is_file() for p in (Path(str(options.around)), folder / "search.json", folder / OPTIONS_FILE)):
        raise UserError(
            f"--around: '{options.around}' is not the best.yaml of a finished search (no search.json and "
            f"{OPTIONS_FILE} beside it); pass runs/tune/NAME/version_N/best.yaml."
        )
    if options.space:
        raise UserError("--around narrows the space of the search it refines; drop --space.")
    coarse = json.loads((folder / OPTIONS_FILE).read_text(encoding="utf-8"))
    best = json.loads((folder / "search.json").read_text(encoding="utf-8"))["best_values"]
    if coarse.get("around"):  # that search refined another: narrow its own space further
        space = around_space(Namespace(around=coarse["around"], space=None), grid=coarse["search"] == "grid")
    else:
        scheduler = resolve_scheduler(coarse.get("scheduler"), coarse["search"])
        space = spaces.load_space(coarse.get("space") or spaces.default_space_path(coarse["search"], scheduler))
    return spaces.around(space, best, grid)


class _ParseOnly(LitCLI):
    """LitCLI that stops after parsing: no run folder, no model, no data."""

    def before_instantiate_classes(self) -> None:
        pass

    def instantiate_classes(self) -> None:
        pass


def parse_train_args(train_args: list[str], values: dict | None = None) -> _ParseOnly:
    """Parse ``train.py fit TRAIN_ARGS`` with ``values`` applied as dotted overrides (they win)."""
    return _ParseOnly(prepare(["fit", *train_args, *spaces.as_overrides(values or {})]))


def write_best_config(plan, best) -> Path:
    """The full config of the user's overrides plus the best values, parsed by train.py's parser: unlike the
    trial's ``config.yaml``, without its run folder, its progress bar setting and the CPU accelerator of CPU trials."""
    cli = parse_train_args(plan.train_args, best.values)
    config = cli.config.clone()
    config.name = None  # the experiment is then named after the file (best.yaml -> runs/best/)
    config.ckpt_path = None
    path = plan.search_dir / "best.yaml"
    value = f"{best.best:.4f}" if best.best is not None else "-"
    header = (
        f"Best trial {best.trial_id} of {plan.options.search} + {plan.scheduler} search {plan.search_dir}\n"
        f"{plan.metric} = {value} after {best.epochs} epochs; searched values: {best.values}\n"
        f"Train it: python train.py --config {path}"
    )
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    path.write_text(comments + cli.parser.dump(config, skip_none=False), encoding="utf-8")
    return path


def make_plan(options: Namespace) -> Plan:
    """Check the whole command line; nothing is written and Ray is not started."""
    check_searcher(options.search)
    scheduler = resolve_scheduler(options.scheduler, options.search)  # impossible pairs first, then packages
    check_searcher_packages(options.search)
    if getattr(options, "around", None):
        space_path, space = Path(options.around), around_space(options, grid=options.search == "grid")
    else:
        space_path = Path(options.space) if options.space else spaces.default_space_path(options.search, scheduler)
        space = spaces.load_space(space_path)
    examples = spaces.example_values(space)
    train_args = user_train_args(options)
    parsed = [parse_train_args(train_args)]
    for values in examples:  # after the overrides alone, with each set of values: an error names its source
        try:
            parsed.append(parse_train_args(train_args, values))
        except UserError as err:
            raise UserError(f"--space {space_path}: {err}") from err
    cli = parsed[:2][-1]  # with the first set of values: what the search's defaults are read from
    config, max_epochs = cli.config, cli.config.trainer.max_epochs
    if max_epochs is None or max_epochs < 1:
        raise UserError("--trainer.max_epochs: a search needs a fixed number of epochs per trial, e.g. 10.")
    num_samples = options.num_samples or (1 if options.search == "grid" else 8)
    if options.search == "grid":
        space = spaces.for_grid(space, str(space_path), num_samples, config.seed_everything)
        num_samples = 1
    resources = parse_resources(options.trial_resources)
    # Last, as the only slow check: a one-batch dry run shows which metrics a trial will report.
    logged = logged_metrics(train_args, examples[0] if examples else {})
    default_monitor = cli.parser.get_default("checkpoint.monitor")
    metric, mode = choose_metric(options.metric, options.mode, config.checkpoint, default_monitor, logged)
    if metric != (options.metric or config.checkpoint.monitor):
        print(
            f"note: the model does not log {config.checkpoint.monitor}; the search optimises {metric} ({mode}) "
            "instead (--metric and --mode choose).",
            file=sys.stderr,
        )
    return Plan(options, scheduler, space, metric, mode, int(max_epochs), num_samples, resources, config)


def new_search_dir(plan: Plan) -> Path:
    """``<runs_dir>/tune/<name>/version_<n>`` (or under ``--storage``), named by ``--name`` or the method."""
    root = Path(plan.options.storage) if plan.options.storage else Path(plan.config.runs_dir) / "tune"
    search_dir = new_run_dir(root.resolve(), plan.config.name or f"{plan.options.search}_{plan.scheduler}")
    (search_dir / OPTIONS_FILE).write_text(json.dumps(plan.options.as_dict(), indent=2) + "\n", encoding="utf-8")
    return search_dir


def resume_options(options: Namespace, given: list[str]) -> Namespace:
    """The saved options of the search in ``--resume DIR``; only the cluster and concurrency may change."""
    folder = Path(str(options.resume))
    if not (folder / OPTIONS_FILE).is_file():
        raise UserError(
            f"--resume: '{folder}' is not a search folder (no {OPTIONS_FILE}); pass runs/tune/NAME/version_N."
        )
    saved = Namespace(**json.loads((folder / OPTIONS_FILE).read_text(encoding="utf-8")))
    changeable = ("address", "max_concurrent", "max_failures")
    flags = [flag_name(a) for a in given if a.startswith("--")]
    extra = [flag for flag in flags if flag[2:] not in ("resume", *changeable)]
    if extra:
        raise UserError(f"--resume continues a search with its saved settings; drop {', '.join(extra)}.")
    saved.resume = str(folder.resolve())
    for name in changeable:
        if f"--{name}" in flags:
            setattr(saved, name, getattr(options, name))
    return saved

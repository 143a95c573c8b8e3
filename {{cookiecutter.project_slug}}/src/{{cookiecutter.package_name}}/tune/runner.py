"""``python tune.py``: plan the search, run it on Ray Tune (started or joined quietly), report the best trial.

:func:`run` returns the summary (also in ``search.json``); :func:`main` adds the one-line errors and exit codes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict
from operator import attrgetter
from pathlib import Path

from {{ cookiecutter.package_name }}.cli.args import wants_debug
from {{ cookiecutter.package_name }}.errors import UserError, exit_on_user_error
from {{ cookiecutter.package_name }}.tune import results as summary
from {{ cookiecutter.package_name }}.tune.options import parse
from {{ cookiecutter.package_name }}.tune.plan import Plan, make_plan, new_search_dir, resume_options, write_best_config
from {{ cookiecutter.package_name }}.tune.trial import TrialSetup, {{ cookiecutter.package_name }}_trial

INTERRUPTED = 130
#: Left out of the project folder shipped to a cluster: run outputs, environments, version control.
NOT_SHIPPED = ["runs/", "lightning_logs/", ".venv/", "venv/", ".git/", "*.ckpt", "__pycache__/"]


def ray_callbacks() -> list:
    """Ray's per-trial ``result.json`` and ``progress.csv``, not its TensorBoard logger ({{ cookiecutter.package_name }} writes its own)."""
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    # Ray's console output, even at verbose=0, announces the experiment; {{ cookiecutter.package_name }} prints its own progress.
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    # Short trials checkpoint every few seconds, which Ray would warn about on every state snapshot.
    os.environ["TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"] = "0"
    logging.getLogger("ray.tune").setLevel(logging.WARNING)
    return [JsonLoggerCallback(), CSVLoggerCallback()]


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[None]:
    """Use the running Ray session (tests share one), join ``address``/``RAY_ADDRESS``, or start a local one.

    Joining a cluster ships the project folder (``configs/``, ``train.py``, code the configs name) as every
    worker's working directory, and the {{ cookiecutter.package_name }} package, so a trial on another node builds the same run as
    here; a local session's workers share this filesystem. A session started here is shut down on exit, so
    the command's last line is {{ cookiecutter.package_name }}'s, not Ray's.
    """
    import ray

    if ray.is_initialized():
        yield
        return
    runtime_env = None
    if (address or os.environ.get("RAY_ADDRESS", "local")) != "local":
        import {{ cookiecutter.package_name }}
        from {{ cookiecutter.package_name }}.rundir import config_dir

        package = str(Path({{ cookiecutter.package_name }}.__file__).resolve().parent)
        runtime_env = {"working_dir": str(config_dir().parent), "py_modules": [package], "excludes": NOT_SHIPPED}
    ray.init(
        address=address,
        runtime_env=runtime_env,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        configure_logging=True,
    )
    try:
        yield
    finally:
        ray.shutdown()


def _trainable(plan: Plan):
    from ray import tune

    workers = plan.options.trial_workers
    # A trial without a GPU in its resources must not pick up one Ray did not give it.
    extra = [] if plan.resources.get("gpu", 0) > 0 else ["--trainer.accelerator", "cpu"]
    args = [*plan.train_args, *extra]
    setup = TrialSetup(args, str(plan.search_dir), plan.metric, os.getcwd(), plan.resources, workers)
    # With Ray Train workers the trial function only waits for them and the workers hold the resources.
    # Even 0.01 CPU for it would leave N one-CPU workers unplaceable on an N-CPU machine (the search
    # hangs), and Tune refuses an empty request, so the waiting function asks for one byte of memory.
    resources = {"memory": 1} if workers > 1 else plan.resources
    return tune.with_resources(tune.with_parameters({{ cookiecutter.package_name }}_trial, setup=setup), resources)


def _max_concurrent(plan: Plan) -> int | None:
    """``--max_concurrent``, or with Ray Train workers the number of whole trials the cluster holds at once
    (their functions reserve nothing: uncapped, every worker group would queue while counted as running)."""
    workers = plan.options.trial_workers
    if plan.options.max_concurrent or workers == 1:
        return plan.options.max_concurrent
    import ray

    cluster = {key.lower(): value for key, value in ray.cluster_resources().items()}
    fits = [int(cluster.get(key, 0) // (need * workers)) for key, need in plan.resources.items() if need > 0]
    return max(1, min(fits, default=1))


def _tuner(plan: Plan, guard):
    assert plan.search_dir is not None, "the search folder is chosen before Ray starts"
    from ray import tune

    from {{ cookiecutter.package_name }}.tune.methods import make_scheduler, make_searcher
    from {{ cookiecutter.package_name }}.tune.progress import RichProgress
    from {{ cookiecutter.package_name }}.tune.space import to_ray

    options = plan.options
    max_concurrent = _max_concurrent(plan)
    if options.resume:
        return tune.Tuner.restore(options.resume, _trainable(plan), resume_unfinished=True, resume_errored=True)
    return tune.Tuner(
        _trainable(plan),
        param_space=to_ray(plan.space, enumerate_grid=plan.enumerates_grid),
        tune_config=tune.TuneConfig(
            metric=plan.metric,
            mode=plan.mode,
            search_alg=make_searcher(
                options.search, plan.metric, plan.mode, int(plan.config.seed_everything), max_concurrent
            ),
            scheduler=make_scheduler(plan.scheduler, options.search, plan.max_epochs, plan.space),
            num_samples=plan.num_samples,
            # Ray's cap wraps model-based searchers only; the variant generator is capped by itself.
            max_concurrent_trials=None if plan.enumerates_grid else max_concurrent,
            trial_dirname_creator=attrgetter("trial_id"),
            reuse_actors=True,  # a new trial process would pay torch's and Lightning's imports again
        ),
        run_config=tune.RunConfig(
            name=plan.search_dir.name,
            storage_path=str(plan.search_dir.parent),
            failure_config=tune.FailureConfig(max_failures=options.max_failures),
            stop=guard,
            # PBT restores a trial from the checkpoint a donor had at its last perturbation, which the donor's
            # later reports would push out of a short history: the restore then fails ("does not exist on
            # storage anymore") and the trial is lost. PBT keeps every checkpoint of a trial.
            checkpoint_config=tune.CheckpointConfig(num_to_keep=None if plan.scheduler == "pbt" else 2),
            callbacks=[*ray_callbacks(), RichProgress(plan.metric, plan.mode, plan.max_epochs), guard],
            verbose=0,
        ),
    )


def _rows(plan: Plan, result_grid) -> list[summary.TrialRow]:
    """Rows from the search's live trials (their final states; the state file on disk may lag behind)."""
    analysis = getattr(result_grid, "_experiment_analysis", None)
    if analysis is None:
        from ray.tune import ExperimentAnalysis

        analysis = ExperimentAnalysis(str(plan.search_dir))
    return [summary.trial_row(trial, plan.metric, plan.mode) for trial in analysis.trials]


def run(argv: list[str] | None = None) -> dict:
    """Run ``python tune.py ARGV`` and return the summary (the content of ``search.json``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    options = parse(argv)
    if options.resume:
        options = resume_options(options, argv)
    plan = make_plan(options)
    plan.search_dir = Path(options.resume) if options.resume else new_search_dir(plan)
    with ray_session(options.address):
        from {{ cookiecutter.package_name }}.tune.progress import MetricGuard, missing_metric_line

        guard = MetricGuard()
        rows = _rows(plan, _tuner(plan, guard).fit())
    # A metric the model never logs fails every trial alike: the first such failure ends the search.
    missing = guard.message or next(filter(None, (missing_metric_line(r.error) for r in rows)), None)
    if missing:
        raise UserError(f"{missing} (search folder {plan.search_dir})")
    title = f"{options.search} + {plan.scheduler} · {plan.search_dir}"
    summary.console().print(summary.table(rows, plan.metric, plan.mode, plan.max_epochs, title))
    # HyperBand can leave trials PAUSED at the end of a search (their bracket never filled): not unfinished.
    interrupted = any(r.status in ("RUNNING", "PENDING") for r in rows) or len(rows) < plan.expected_trials()
    if interrupted and all(r.best is None for r in rows):
        resume = f"python tune.py --resume {plan.search_dir}"
        raise UserError(f"search interrupted before any trial reported; continue: {resume}")
    best = summary.ranked(rows, plan.mode)[0] if rows else None
    if best is None or best.best is None:
        reason = next((r.error for r in rows if r.error), f"no trial reported {plan.metric}")
        raise UserError(f"every trial failed: {reason} (search folder {plan.search_dir}).")
    checkpoints = sorted((Path(best.run_dir) / "checkpoints").glob("best*.ckpt")) if best.run_dir else []
    pbt_log = plan.search_dir / "pbt_global.txt"  # PBT's exploit decisions, one a line
    exploits = pbt_log.read_text(encoding="utf-8").splitlines() if pbt_log.is_file() else []
    result = {
        "search_dir": str(plan.search_dir),
        "search": options.search,
        "scheduler": plan.scheduler,
        "metric": plan.metric,
        "mode": plan.mode,
        "best_value": best.best,
        "best_trial": best.trial_id,
        "best_values": best.values,
        "best_checkpoint": str(checkpoints[-1]) if checkpoints else None,  # train.py test --ckpt_path tests it
        "best_config": str(write_best_config(plan, best)),
        "trials": len(rows),
        "states": dict(Counter(r.state(plan.max_epochs) for r in rows)),
        "epochs_total": sum(r.epochs for r in rows),
        "exploits": sum(1 for line in exploits if line.strip()),
        "interrupted": interrupted,
    }
    # search.json: the summary (best value, best config, epochs) and every trial, for tools and tests
    saved = {**{k: v for k, v in result.items() if k != "trials"}, "trials": [asdict(r) for r in rows]}
    (plan.search_dir / "search.json").write_text(json.dumps(saved, indent=2, default=str) + "\n", encoding="utf-8")
    return result


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``tune.py``; the last stdout line is ``best config: <path>``."""
    argv = sys.argv[1:] if argv is None else argv
    with exit_on_user_error(wants_debug(argv)):
        result = run(argv)
    print(f"tensorboard --logdir {result['search_dir']}")
    if result["interrupted"]:
        print(f"search interrupted; continue it with: python tune.py --resume {result['search_dir']}", file=sys.stderr)
    print(f"best config: {result['best_config']}", flush=True)
    if result["interrupted"]:
        raise SystemExit(INTERRUPTED)

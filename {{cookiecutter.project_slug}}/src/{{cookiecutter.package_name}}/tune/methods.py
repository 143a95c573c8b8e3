"""Searchers and schedulers by name; Ray Tune's own do the work.

``grid`` and ``random`` use Ray's variant generator; ``optuna``, ``hyperopt`` and ``bohb`` learn from finished
trials. ``asha`` and ``hyperband`` stop trials that trail their peers at the same epoch; ``pbt`` copies good
trials' weights into bad ones and perturbs their values (from the checkpoints {{ cookiecutter.package_name }}'s callback reports).
"""

from __future__ import annotations

from {{ cookiecutter.package_name }}.errors import UserError, did_you_mean

#: name -> the optional packages it needs
SEARCHERS: dict[str, tuple[str, ...]] = {
    "grid": (),
    "random": (),
    "optuna": ("optuna",),
    "hyperopt": ("hyperopt",),
    "bohb": ("hpbandster", "ConfigSpace"),
}
#: searchers on Ray's variant generator, which enumerates ``grid`` values and limits concurrency itself
VARIANT_GENERATOR = ("grid", "random")
SCHEDULERS = ("fifo", "asha", "hyperband", "pbt")


def check_searcher(name: str) -> None:
    if name not in SEARCHERS:
        names = ", ".join(SEARCHERS)
        raise UserError(f"--search: unknown searcher '{name}'.{did_you_mean(name, SEARCHERS)} Choose one of: {names}.")


def check_searcher_packages(name: str) -> None:
    """Fail with the install command when a searcher's optional packages are missing."""
    install = "pip install '{{ cookiecutter.package_name }}[tune]'"
    if name == "bohb":
        install = "pip install '{{ cookiecutter.package_name }}[bohb]'  (or: pip install hpbandster ConfigSpace)"
    for module in SEARCHERS[name]:
        try:
            __import__(module)
        except ImportError as err:
            raise UserError(f"--search {name} needs the '{module}' package: {install}") from err


def make_searcher(name: str, metric: str, mode: str, seed: int, max_concurrent: int | None):
    """Ray's searcher object for ``name``, seeded for reproducible trials."""
    if name == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(metric=metric, mode=mode, sampler=optuna.samplers.TPESampler(seed=seed))
    if name == "hyperopt":
        from ray.tune.search.hyperopt import HyperOptSearch

        return HyperOptSearch(metric=metric, mode=mode, random_state_seed=seed)
    if name == "bohb":
        from ray.tune.search.bohb import TuneBOHB

        return TuneBOHB(metric=metric, mode=mode, seed=seed)
    from ray.tune.search.basic_variant import BasicVariantGenerator

    return BasicVariantGenerator(random_state=seed, max_concurrent=max_concurrent or 0)


def resolve_scheduler(name: str | None, search: str) -> str:
    """The scheduler to use: ASHA by default, BOHB's own HyperBand for BOHB; impossible pairs fail in one line."""
    if name is None:
        return "hyperband" if search == "bohb" else "asha"
    if name not in SCHEDULERS:
        names = ", ".join(SCHEDULERS)
        raise UserError(
            f"--scheduler: unknown scheduler '{name}'.{did_you_mean(name, SCHEDULERS)} Choose one of: {names}."
        )
    if search == "bohb" and name != "hyperband":
        raise UserError(f"--search bohb brings its own HyperBand: use --scheduler hyperband (not {name}).")
    if name == "pbt" and search not in ("random", "grid"):
        raise UserError(f"--scheduler pbt explores by itself: use --search random or grid (not {search}).")
    return name


def make_scheduler(name: str, search: str, max_t: int, space: dict):
    """Ray's scheduler object (None: Ray's FIFO); with BOHB, HyperBand is the BOHB-aware variant.

    Ray's schedulers count ``training_iteration`` by default: one per report, and {{ cookiecutter.package_name }} reports once per epoch.
    """
    from ray.tune import schedulers

    from {{ cookiecutter.package_name }}.tune.space import to_ray

    if name == "asha":  # rungs at 1, 3, 9, ... epochs: a trial must be in the top third at a rung to train on
        return schedulers.ASHAScheduler(max_t=max_t, reduction_factor=3)
    if name == "hyperband":  # Ray's default reduction factor is 3 too
        return (schedulers.HyperBandForBOHB if search == "bohb" else schedulers.HyperBandScheduler)(max_t=max_t)
    if name == "pbt":
        return schedulers.PopulationBasedTraining(
            time_attr="training_iteration",
            perturbation_interval=max(1, max_t // 4),
            hyperparam_mutations=to_ray(space, enumerate_grid=False),
            quantile_fraction=0.5,
            synch=False,
        )
    return None

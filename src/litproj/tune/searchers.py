"""Searchers by name: how the next trial's values are chosen. Ray Tune's own searchers do the work.

``grid`` and ``random`` use Ray's variant generator; ``optuna`` (TPE) and ``hyperopt`` (TPE) learn
from finished trials; ``bohb`` pairs a model-based searcher with HyperBand's budgets. Add a searcher
by adding an entry to :data:`SEARCHERS`.
"""

from __future__ import annotations

from collections.abc import Callable

from litproj.errors import UserError, did_you_mean

BOHB_INSTALL = "pip install 'litproj[bohb]'  (or: pip install hpbandster ConfigSpace)"


def _variant_generator(metric: str, mode: str, seed: int):
    from ray.tune.search.basic_variant import BasicVariantGenerator

    return BasicVariantGenerator(random_state=seed)  # grid points and random samples, reproducibly


#: searchers that limit concurrency themselves (Ray's ``max_concurrent_trials`` only wraps ``Searcher``s)
OWN_CONCURRENCY = ("grid", "random")


def _optuna(metric: str, mode: str, seed: int):
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    return OptunaSearch(metric=metric, mode=mode, sampler=optuna.samplers.TPESampler(seed=seed))


def _hyperopt(metric: str, mode: str, seed: int):
    from ray.tune.search.hyperopt import HyperOptSearch

    return HyperOptSearch(metric=metric, mode=mode, random_state_seed=seed)


def _bohb(metric: str, mode: str, seed: int):
    from ray.tune.search.bohb import TuneBOHB

    return TuneBOHB(metric=metric, mode=mode, seed=seed)


#: name -> (factory(metric, mode, seed), modules it needs, install hint)
SEARCHERS: dict[str, tuple[Callable, tuple[str, ...], str]] = {
    "grid": (_variant_generator, (), ""),
    "random": (_variant_generator, (), ""),
    "optuna": (_optuna, ("optuna",), "pip install 'litproj[tune]'"),
    "hyperopt": (_hyperopt, ("hyperopt",), "pip install 'litproj[tune]'"),
    "bohb": (_bohb, ("hpbandster", "ConfigSpace"), BOHB_INSTALL),
}


def check_searcher(name: str) -> None:
    """Fail with one line for an unknown searcher."""
    if name not in SEARCHERS:
        names = ", ".join(SEARCHERS)
        raise UserError(f"--search: unknown searcher '{name}'.{did_you_mean(name, SEARCHERS)} Choose one of: {names}.")


def check_searcher_packages(name: str) -> None:
    """Fail with the install command when a searcher's optional packages are missing."""
    _, modules, install = SEARCHERS[name]
    for module in modules:
        try:
            __import__(module)
        except ImportError as err:
            raise UserError(f"--search {name} needs the '{module}' package: {install}") from err


def make_searcher(name: str, metric: str, mode: str, seed: int, max_concurrent: int | None = None):
    """Ray's searcher object for ``name``."""
    check_searcher(name)
    check_searcher_packages(name)
    searcher = SEARCHERS[name][0](metric, mode, seed)
    if name in OWN_CONCURRENCY and max_concurrent:
        searcher.max_concurrent = max_concurrent
    return searcher

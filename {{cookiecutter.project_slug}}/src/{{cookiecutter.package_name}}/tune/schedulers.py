"""Trial schedulers by name: which trials keep training. Ray Tune's schedulers do the work.

``fifo`` runs every trial to the end; ``asha`` and ``hyperband`` stop trials that trail their peers at
the same epoch; ``pbt`` copies the weights of good trials into bad ones and perturbs their values, which
needs the checkpoints {{ cookiecutter.package_name }}'s callback reports. BOHB brings its own HyperBand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from {{ cookiecutter.package_name }}.errors import UserError, did_you_mean

#: Ray counts one ``training_iteration`` per report, and {{ cookiecutter.package_name }} reports once per validation (epoch).
TIME_ATTR = "training_iteration"


@dataclass
class Budget:
    """What a scheduler needs to know about the search: the objective and the longest trial."""

    metric: str
    mode: str
    max_t: int
    space: dict
    seed: int


def _fifo(budget: Budget):
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


def _asha(budget: Budget):
    from ray.tune.schedulers import ASHAScheduler

    # Rungs at 1, 3, 9, ... epochs: a trial must be in the top third at a rung to train on.
    return ASHAScheduler(time_attr=TIME_ATTR, max_t=budget.max_t, grace_period=1, reduction_factor=3)


def _hyperband(budget: Budget):
    from ray.tune.schedulers import HyperBandScheduler

    return HyperBandScheduler(time_attr=TIME_ATTR, max_t=budget.max_t, reduction_factor=3)


def _hyperband_for_bohb(budget: Budget):
    from ray.tune.schedulers import HyperBandForBOHB

    return HyperBandForBOHB(time_attr=TIME_ATTR, max_t=budget.max_t, reduction_factor=3)


def _pbt(budget: Budget):
    from ray.tune.schedulers import PopulationBasedTraining

    from {{ cookiecutter.package_name }}.tune.space import to_ray

    return PopulationBasedTraining(
        time_attr=TIME_ATTR,
        perturbation_interval=max(1, budget.max_t // 4),
        hyperparam_mutations=to_ray(budget.space, enumerate_grid=False),
        quantile_fraction=0.5,
        synch=False,
    )


#: name -> factory(budget)
SCHEDULERS: dict[str, Callable] = {"fifo": _fifo, "asha": _asha, "hyperband": _hyperband, "pbt": _pbt}


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


def make_scheduler(name: str, search: str, budget: Budget):
    """Ray's scheduler object; with BOHB, HyperBand is the BOHB-aware variant."""
    if search == "bohb" and name == "hyperband":
        return _hyperband_for_bohb(budget)
    return SCHEDULERS[name](budget)

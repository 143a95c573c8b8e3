"""Search spaces: YAML over train.py's dotted keys, checked before any trial starts, then turned into Ray's.

A space file reads like a config with distributions in place of values::

    model.lr: {loguniform: [1.0e-4, 1.0e-1]}
    data.batch_size: {choice: [32, 64, 128]}
    model.backbone: {grid: [small_cnn, resnet18]}
    trainer.gradient_clip_val: 1.0        # a fixed value

A small format of {{ cookiecutter.package_name }}'s own (not Ray's Python API): every searcher reads the same file, and tune.py
rejects a typo in one line before Ray starts.
"""

from __future__ import annotations

import math
from numbers import Real
from pathlib import Path

import yaml

from {{ cookiecutter.package_name }}.errors import UserError, did_you_mean
from {{ cookiecutter.package_name }}.rundir import config_dir

DISTRIBUTIONS = ("uniform", "quniform", "loguniform", "qloguniform", "randint", "qrandint", "choice", "grid")
CATEGORICAL = ("choice", "grid")


def default_space_path(search: str, scheduler: str) -> Path:
    """The ready space for a searcher (``configs/tune/<search>.yaml``); PBT has its own (mutable values only)."""
    return config_dir() / "tune" / f"{'pbt' if scheduler == 'pbt' else search}.yaml"


def _check_entry(where: str, spec) -> None:
    if not isinstance(spec, dict) or "class_path" in spec:
        return  # a fixed value
    if len(spec) != 1:
        raise UserError(f"{where}: expected one distribution such as {{ '{' }}{loguniform: [1.0e-4, 1.0e-1]}}, got {spec}.")
    ((name, args),) = spec.items()
    if name not in DISTRIBUTIONS:
        known = ", ".join(DISTRIBUTIONS)
        raise UserError(
            f"{where}: unknown distribution '{name}'.{did_you_mean(str(name), DISTRIBUTIONS)} Known: {known}."
        )
    arity = None if name in CATEGORICAL else 3 if name.startswith("q") else 2  # None: a non-empty list
    if not isinstance(args, list) or not args or (arity is not None and len(args) != arity):
        wanted = "a non-empty list of values" if arity is None else f"a list of {arity} numbers"
        raise UserError(f"{where}: {name} takes {wanted}, got {args!r}.")
    if arity is None:
        return
    if not all(isinstance(a, Real) and not isinstance(a, bool) for a in args):
        raise UserError(f"{where}: {name} takes numbers, got {args}.")
    low, high = args[0], args[1]
    if low >= high:
        raise UserError(f"{where}: {name} needs low < high, got [{low}, {high}].")
    if "log" in name and low <= 0:
        raise UserError(f"{where}: {name} needs a positive lower bound, got {low}.")
    if name.endswith("randint") and not all(float(a).is_integer() for a in args):
        raise UserError(f"{where}: {name} takes integers, got {args}.")
    if name.startswith("q") and args[2] <= 0:
        raise UserError(f"{where}: {name}'s step must be positive, got {args[2]}.")


def load_space(path: str | Path) -> dict:
    """Read and check a space file; every mistake is one line naming the file, the key and the fix."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--space: file '{path}' does not exist. Ready spaces are in {config_dir() / 'tune'}.")
    try:
        space = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"--space {path}: not valid YAML{line} ({getattr(err, 'problem', err)}).") from err
    if not isinstance(space, dict) or not space:
        raise UserError(
            f"--space {path}: expected a mapping of train.py keys to distributions, "
            "e.g. 'model.lr: {loguniform: [1.0e-4, 1.0e-1]}'."
        )
    for key, spec in space.items():
        if not isinstance(key, str) or key.startswith("-"):
            raise UserError(f"--space {path}: key {key!r} must be a dotted train.py key such as model.lr.")
        _check_entry(f"--space {path}: {key}", spec)
    return space


def _distribution(spec) -> tuple[str, list] | None:
    if isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in DISTRIBUTIONS:
        return next(iter(spec.items()))
    return None


def example_values(space: dict) -> list[dict]:
    """Value sets that together hold every categorical value and both bounds of every range (for train.py's parser)."""
    options = {}
    for key, spec in space.items():
        dist = _distribution(spec)
        options[key] = [spec] if dist is None else dist[1] if dist[0] in CATEGORICAL else dist[1][:2]
    count = max((len(values) for values in options.values()), default=1)
    return [{key: values[i % len(values)] for key, values in options.items()} for i in range(count)]


def for_grid(space: dict, path: str, num_samples: int, seed: int) -> dict:
    """Every categorical value; ``num_samples`` > 1 repeats the grid with new seeds (which measure the noise)."""
    grid = {}
    for key, spec in space.items():
        dist = _distribution(spec)
        if dist is not None and dist[0] not in CATEGORICAL:
            raise UserError(
                f"--space {path}: {key} is {dist[0]}, which a grid cannot enumerate; list values with "
                "{grid: [...]} or use --search random."
            )
        grid[key] = {"grid": dist[1]} if dist else spec
    if num_samples > 1 and "seed_everything" not in grid:
        grid["seed_everything"] = {"grid": [seed + i for i in range(num_samples)]}
    return grid


#: A finer search spans this fraction of the coarse range (of its logarithm for the log distributions) ...
FINER = 0.25
#: ... and a grid takes this many points across it.
FINE_POINTS = 3


def _narrowed(name: str, args: list, best, grid: bool):
    """One range around ``best``: FINER of the coarse width, centred on it where the bounds allow."""
    log = "log" in name
    scale, unscale = (math.log, math.exp) if log else (float, float)
    low, high, centre = scale(args[0]), scale(args[1]), scale(best)
    half = (high - low) * FINER / 2
    start, stop = max(low, min(centre - half, high - 2 * half)), min(high, max(centre + half, low + 2 * half))
    step = args[2] if name.startswith("q") else 1 if name.endswith("randint") else None

    def tidy(value: float):  # on the distribution's step; 4 significant digits read better in tables
        if step is not None:
            value = round(value / step) * step
            if float(step).is_integer():
                return int(value)
        return float(f"{value:.4g}")

    if not grid:
        ends = [tidy(unscale(start)), tidy(unscale(stop))]
        return {name: [*ends, *args[2:]]} if ends[0] < ends[1] else best
    points = [tidy(unscale(start + (stop - start) * i / (FINE_POINTS - 1))) for i in range(FINE_POINTS)]
    return {"grid": sorted(set(points))}


def around(space: dict, best: dict, grid: bool) -> dict:
    """A finer space around a finished search's ``best`` values: ranges narrow (:func:`_narrowed`); a categorical
    choice and a fixed value stay at what the best trial used."""
    finer = {}
    for key, spec in space.items():
        dist, value = _distribution(spec), best.get(key, spec)
        finer[key] = value if dist is None or dist[0] in CATEGORICAL else _narrowed(*dist, value, grid)
    return finer


def to_ray(space: dict, enumerate_grid: bool) -> dict:
    """Ray Tune domains; ``grid`` becomes ``tune.grid_search`` for the variant generator, else a choice."""
    from ray import tune

    converted = {}
    for key, spec in space.items():
        dist = _distribution(spec)
        if dist is None:
            converted[key] = spec
        elif dist[0] == "grid" and enumerate_grid:
            converted[key] = tune.grid_search(dist[1])
        elif dist[0] in CATEGORICAL:
            converted[key] = tune.choice(dist[1])
        else:
            args = [int(a) for a in dist[1]] if dist[0].endswith("randint") else dist[1]
            converted[key] = getattr(tune, dist[0])(*args)
    return converted


def as_overrides(values: dict) -> list[str]:
    """Sampled values as train.py flags (``--model.lr 0.003``), the way a user would type them."""
    args = []
    for key, value in values.items():
        if isinstance(value, bool) or value is None:
            text = "null" if value is None else str(value).lower()
        elif isinstance(value, (dict, list)):
            text = yaml.safe_dump(value, default_flow_style=True).strip()
        else:
            text = str(value)
        args += [f"--{key}", text]
    return args

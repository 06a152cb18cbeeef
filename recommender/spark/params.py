"""The training parameters, their defaults and their validation. Plain Python: no pyspark here, so
the service and the management commands validate a run's parameters before anything starts.

The names match recommender/DESIGN.md; every value a run used is stored in ``ModelRun.params``.
"""

from __future__ import annotations

import itertools
import math
import random

# Defaults chosen on MovieLens (see DESIGN.md, "Measured quality") and sized so that a run on a
# million ratings fits this two-core machine's budget.
DEFAULT_PARAMS: dict = {
    # ranking model: implicit ALS
    "rank": 48,
    "reg": 0.1,
    "iterations": 7,
    "alpha": 1.0,
    "star_weight": 0.0,
    "activity_exponent": 1.0,
    "popularity_weight": 0.3,
    # star model: biases + explicit ALS on the residuals
    "rating_rank": 48,
    "rating_reg": 0.16,
    "rating_iterations": 10,
    "bias_reg_user": 5.0,
    "bias_reg_title": 5.0,
    "bias_sweeps": 3,
    "rating_scale_prior": 10.0,
    # the star model's neighbourhood term (DESIGN.md §2): its weight and shrinkage, each title's
    # neighbours kept, who may be one (training ratings at least; the most rated first, at most)
    # and the similarity's shrinkage by common raters
    "star_neighbour_weight": 1.5,
    "star_neighbour_reg": 1.0,
    "star_neighbour_n": 50,
    "star_neighbour_min_support": 5,
    "star_neighbour_max_titles": 20_000,
    "star_neighbour_shrink": 100.0,
    # scale of the ratings (the site's stars; MovieLens uses 0.5-5)
    "scale_min": 1.0,
    "scale_max": 5.0,
    # output
    "top_n": 50,
    "similar_n": 20,
    "similar_min_support": 2,
    # confidence (DESIGN.md §3): (preference · user evidence · title evidence) ^ confidence_exponent
    "confidence_user_prior": 30.0,
    "confidence_title_prior": 10.0,
    "confidence_exponent": 0.5,
    # the hybrid's content side (DESIGN.md §11): the content term's weight in the ranking score and
    # its shrinkage (ratings), each title's content neighbours kept, and which catalog titles
    # beyond the rated ones take part (IMDb votes at least; the most-voted first, at most)
    "content_weight": 4.0,
    "content_prior": 5.0,
    "content_vector_prior": 2.0,
    # how much more the content term counts for a title with few ratings (DESIGN.md §11:
    # l_i = 1 + content_few_weight · content_vector_prior / (n_i + content_vector_prior); chosen by
    # cross-validation inside the training part, bench/bench_content_lift_cv.py)
    "content_few_weight": 4.0,
    "content_n": 50,
    "content_min_votes": 10,
    "content_max_titles": 30_000,
    # the ranking score's item-item part (DESIGN.md §1): pruned EASE on the most-rated titles, its
    # weight in the score, how much heavy raters' ratings are damped, EASE's regularisation, the
    # neighbours kept per title and the titles it covers (chosen by cross-validation inside the
    # training part over five split seeds: DESIGN.md §9)
    "item_weight": 2.0,
    "item_activity_exponent": 0.5,
    "item_lambda": 300.0,
    "item_n": 200,
    "item_max_titles": 3000,
    # evaluation
    "holdout_fraction": 0.1,
    "holdout_min_user_ratings": 5,
    "eval_max_users": 2000,
    "seed": 42,
    # grid search: False, True (the default grid) or {"rank": [...], "reg": [...], ...}
    "grid": False,
    "validation_fraction": 0.2,
    "grid_max_candidates": 0,
    # validation splits of the grid search, each drawn with its own seed inside the training part;
    # a candidate's score is its mean over them ([] = one split, seeded with seed + 1)
    "grid_seeds": [],
    # Spark: ALS checkpoints its factors every N iterations (so long runs do not overflow the lineage)
    "checkpoint_interval": 20,
}

# What --grid searches when no grid is given: ranking and star parameters are searched
# independently (each candidate fits only the model its parameters belong to).
DEFAULT_GRID: dict = {
    "rank": [32, 48, 64],
    "reg": [0.05, 0.1, 0.2],
    "alpha": [0.5, 1.0, 2.0],
    "rating_rank": [32, 48],
    "rating_reg": [0.12, 0.16, 0.2],
}
RANKING_KEYS = ("rank", "reg", "iterations", "alpha", "star_weight", "activity_exponent", "popularity_weight")
RATING_KEYS = (
    "rating_rank",
    "rating_reg",
    "rating_iterations",
    "bias_reg_user",
    "bias_reg_title",
    "rating_scale_prior",
)

_INTEGER = {
    "rank",
    "iterations",
    "rating_rank",
    "rating_iterations",
    "bias_sweeps",
    "top_n",
    "similar_n",
    "similar_min_support",
    "holdout_min_user_ratings",
    "eval_max_users",
    "seed",
    "checkpoint_interval",
    "grid_max_candidates",
    "content_n",
    "content_min_votes",
    "content_max_titles",
    "star_neighbour_n",
    "star_neighbour_min_support",
    "star_neighbour_max_titles",
    "item_n",
    "item_max_titles",
}
_RANGES = {
    "rank": (1, 500),
    "iterations": (1, 200),
    "rating_rank": (1, 500),
    "rating_iterations": (1, 200),
    "bias_sweeps": (0, 50),
    "top_n": (1, 1000),
    "similar_n": (0, 200),
    "similar_min_support": (1, 10**9),
    "holdout_min_user_ratings": (2, 10**9),
    "eval_max_users": (0, 10**9),
    "seed": (0, 2**31 - 1),
    "checkpoint_interval": (-1, 1000),
    "grid_max_candidates": (0, 10000),
    "reg": (0.0, 1e6),
    "alpha": (0.0, 1e6),
    "star_weight": (0.0, 1e6),
    "activity_exponent": (0.0, 4.0),
    "popularity_weight": (0.0, 1e6),
    "rating_reg": (0.0, 1e6),
    "bias_reg_user": (0.0, 1e9),
    "bias_reg_title": (0.0, 1e9),
    "rating_scale_prior": (0.0, 1e9),
    "holdout_fraction": (0.0, 0.9),
    "validation_fraction": (0.01, 0.9),
    "confidence_user_prior": (0.0, 1e9),
    "content_weight": (0.0, 1e6),
    "content_prior": (0.0, 1e9),
    "content_vector_prior": (0.0, 1e9),
    "content_few_weight": (0.0, 1e6),
    "content_n": (0, 1000),
    "content_min_votes": (0, 10**9),
    "content_max_titles": (0, 10**8),
    "star_neighbour_weight": (0.0, 100.0),
    "star_neighbour_reg": (0.0, 1e9),
    "star_neighbour_n": (0, 1000),
    "star_neighbour_min_support": (1, 10**9),
    "star_neighbour_max_titles": (0, 10**8),
    "star_neighbour_shrink": (0.0, 1e9),
    "confidence_title_prior": (0.0, 1e9),
    "confidence_exponent": (0.05, 1.0),
    "item_weight": (0.0, 1e6),
    "item_activity_exponent": (0.0, 4.0),
    "item_lambda": (0.001, 1e9),
    "item_n": (0, 5000),
    # the dense Gram matrix is item_max_titles² doubles: 20,000 titles is 3.2 GB
    "item_max_titles": (0, 20_000),
    "scale_min": (-1e9, 1e9),
    "scale_max": (-1e9, 1e9),
}


class ParamsError(ValueError):
    pass


def params_resolve(overrides: dict | None = None) -> dict:
    """Defaults updated with ``overrides``; raises ParamsError naming the first bad value."""
    params = dict(DEFAULT_PARAMS)
    for key, value in (overrides or {}).items():
        if key not in DEFAULT_PARAMS:
            raise ParamsError(f"unknown parameter {key!r}")
        if value is None:
            continue
        params[key] = value
    for key, (low, high) in _RANGES.items():
        value = params[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParamsError(f"{key} must be a number, not {value!r}")
        if key in _INTEGER and not float(value).is_integer():
            raise ParamsError(f"{key} must be a whole number, not {value!r}")
        if not math.isfinite(value) or not low <= value <= high:
            raise ParamsError(f"{key} must be between {low} and {high}, not {value!r}")
        params[key] = int(value) if key in _INTEGER else float(value)
    if params["scale_max"] <= params["scale_min"]:
        raise ParamsError("scale_max must be above scale_min")
    params["grid"] = grid_resolve(params["grid"])
    seeds = params["grid_seeds"]
    if not isinstance(seeds, list | tuple) or any(
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31 - 1 for seed in seeds
    ):
        raise ParamsError(f"grid_seeds must be a list of whole numbers from 0, not {seeds!r}")
    if len(seeds) > 20:
        raise ParamsError("grid_seeds takes at most 20 seeds")
    params["grid_seeds"] = [int(seed) for seed in seeds]
    return params


def grid_resolve(grid) -> dict | bool:
    if grid in (False, None, 0):
        return False
    if grid is True or grid == 1:
        return {key: list(values) for key, values in DEFAULT_GRID.items()}
    if not isinstance(grid, dict) or not grid:
        raise ParamsError("grid must be true, false or a mapping of parameter to a list of values")
    resolved = {}
    for key, values in grid.items():
        if key not in RANKING_KEYS + RATING_KEYS:
            raise ParamsError(f"grid parameter {key!r} is not a model parameter")
        if not isinstance(values, list | tuple) or not values:
            raise ParamsError(f"grid values of {key} must be a non-empty list")
        for value in values:
            params_resolve({key: value})
        resolved[key] = list(values)
    return resolved


def grid_candidates(params: dict) -> list[dict]:
    """The grid's candidates: first the ranking ones, then the star ones, each a dict of overrides
    with ``kind``. Random subset of ``grid_max_candidates`` per kind when set (random search)."""
    grid = params["grid"] or {}
    candidates: list[dict] = []
    for kind, keys in (("ranking", RANKING_KEYS), ("rating", RATING_KEYS)):
        axes = [(key, grid[key]) for key in keys if key in grid]
        if not axes:
            continue
        combos = [
            dict(zip([key for key, _ in axes], values, strict=True))
            for values in itertools.product(*[values for _, values in axes])
        ]
        limit = params["grid_max_candidates"]
        if limit and len(combos) > limit:
            combos = random.Random(params["seed"]).sample(combos, limit)
        candidates.extend({"kind": kind, **combo} for combo in combos)
    return candidates

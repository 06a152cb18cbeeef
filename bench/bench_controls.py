"""The members' controls on MovieLens: what "hidden gems" and "more variety" do to the top 10.

    python bench/bench_controls.py [--movielens ../shared/data/movielens-latest-small]
        [--seeds 1 2 3] [--cross-validate] [--reuse DIR]

For each split seed, trains the production Spark job on the training part of a MovieLens split (as
``evaluate_recommender`` does: test fraction 0.2), keeps the job's output, and ranks every test
user's top 10 from their folded-in vectors with each discovery step, with and without "more
variety", through the functions the live list uses (``recommender.serving.ranking_controls``).
Prints precision@10, the median support (training ratings) of the recommended titles, and the
intra-list diversity — the figure ``evaluate_recommender`` reports (mean pairwise cosine distance
of the titles' rating vectors, by the same function), beside it the same over the ranking vectors
and the genres' Jaccard distance (from ``movies.csv``) — per seed and the mean over seeds, then
the two checks of issue 19: "hidden gems" median support <= 1/10 of "crowd pleasers"; "variety"
diversity +30 % for at most 10 % precision lost.

It also prints how far +30 % is on each measure: the plain list's figure, the figure +30 % needs,
the gain the measure's maximum (1.0) allows, and the most diverse greedy 10 of the same pool
(λ = 1, by the similarity the measure uses) with its precision@10.

``--cross-validate`` chooses variety's λ and window without looking at the test parts: for each
seed the training part is split again (test fraction 0.2, seed + 1000), the job trained on the
inner training part, and every (λ, window) scored on the inner validation part, for the served
re-ranking (the ranking vectors' cosine) and for one on the genres (their Jaccard similarity); per
re-ranking, the setting with the largest mean gain of its own diversity (evaluate_recommender's for
the vectors, the genres' for the genres) whose mean precision@10 loss stays within 10 % is reported
(and measured on the test parts beside the served ``VARIETY_TRADEOFF`` and ``VARIETY_WINDOW``). ``--reuse DIR`` keeps each trained split in DIR and reads it back on the next
run (the Spark fits are most of the time). Needs no database.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imdbrec.settings.test")

import django  # noqa: E402

django.setup()

from shareddata import MOVIELENS_SMALL  # noqa: E402

from recommender.quality.controls import (  # noqa: E402
    controls_from_output,
    controls_measure,
    default_settings,
    genres_attach,
)
from recommender.quality.evaluation import movielens_evaluate, movielens_read, ratings_split  # noqa: E402
from recommender.serving.ranking_controls import (  # noqa: E402
    DISCOVERY_STEPS,
    VARIETY_TRADEOFF,
    VARIETY_WINDOW,
    RankingControls,
)

LAMBDAS = [round(0.30 + 0.05 * step, 2) for step in range(7)]  # 0.30 .. 0.60
# The n-th pick among the best n + window: a pool of about 40, 100 or 200 titles for the top 10.
WINDOWS = [30, 90, 190]
# The genre re-ranking (measured beside the served one): its window matters less, its λ costs less.
GENRE_LAMBDAS = [round(0.30 + 0.05 * step, 2) for step in range(9)]  # 0.30 .. 0.70
PLAIN, VARIED = RankingControls(discovery=3), RankingControls(discovery=3, variety=True)


def _trained(ratings, *, seed: int, test_fraction: float, reuse: Path | None = None, name: str = ""):
    """The job trained on ``ratings``' training part: (title side, user ids, user vectors, train, test);
    kept in ``reuse``/``name``.pickle when given (read back when there)."""
    kept = reuse / f"{name}.pickle" if reuse is not None else None
    if kept is not None and kept.is_file():
        with open(kept, "rb") as handle:
            return pickle.load(handle)  # noqa: S301 - a file this bench wrote itself
    exchange = Path(tempfile.mkdtemp(prefix="bench-controls-"))
    try:
        report = movielens_evaluate(
            ratings=ratings,
            test_fraction=test_fraction,
            seed=seed,
            exchange_dir=exchange,
            keep_files=True,
            baselines=False,
        )
        assert report.directory is not None
        side, user_ids, user_factors = controls_from_output(
            report.directory / "output", popularity_weight=float(report.model.get("popularity_weight") or 0.0)
        )
    finally:
        shutil.rmtree(exchange, ignore_errors=True)
    train, test = ratings_split(ratings, test_fraction=test_fraction, seed=seed)
    trained = side, user_ids, user_factors, train, test
    if kept is not None:
        kept.parent.mkdir(parents=True, exist_ok=True)
        with open(kept, "wb") as handle:
            pickle.dump(trained, handle)
    return trained


def _measure(trained, settings, *, tradeoff=None, window=None, basis="vectors"):
    side, user_ids, user_factors, train, test = trained
    return controls_measure(
        side,
        user_ids,
        user_factors,
        train["user"].to_numpy().astype(np.int64),
        train["item"].to_numpy().astype(np.int64),
        test["user"].to_numpy().astype(np.int64),
        test["item"].to_numpy().astype(np.int64),
        settings,
        tradeoff=tradeoff,
        window=window,
        basis=basis,
    )


def _change(plain, varied) -> tuple[float, float, float, float]:
    """(diversity gain, precision@10 loss, ranking-vector diversity gain, genre diversity gain) of
    ``varied`` over ``plain``."""
    return (
        varied.diversity / plain.diversity - 1,
        1 - varied.precision_at_10 / plain.precision_at_10,
        varied.vector_diversity / plain.vector_diversity - 1,
        (varied.genre_diversity or 0.0) / (plain.genre_diversity or 1.0) - 1,
    )


def _variety_change(results) -> tuple[float, float, float, float]:
    """_change of "balanced" with variety over "balanced" without."""
    by_setting = {(result.controls.discovery, result.controls.variety): result for result in results}
    return _change(by_setting[(3, False)], by_setting[(3, True)])


def _mean_change(changes) -> tuple[float, ...]:
    return tuple(float(np.mean([change[n] for change in changes])) for n in range(4))


def _label(variant) -> str:
    basis, tradeoff, window = variant
    return f"{basis} λ={tradeoff} w={window}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movielens", default=str(MOVIELENS_SMALL))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument(
        "--cross-validate", action="store_true", help="choose variety's λ and window on the training parts"
    )
    parser.add_argument("--reuse", type=Path, default=None, help="keep the trained splits here and reuse them")
    args = parser.parse_args()

    ratings = movielens_read(args.movielens)
    movies = Path(args.movielens) / "movies.csv"
    started = time.monotonic()
    served = ("vectors", VARIETY_TRADEOFF, VARIETY_WINDOW)
    chosen: dict[str, tuple] = {}
    if args.cross_validate:
        grid = [("vectors", tradeoff, window) for window in WINDOWS for tradeoff in LAMBDAS]
        grid += [("genres", tradeoff, WINDOWS[-1]) for tradeoff in GENRE_LAMBDAS]
        curves: dict[tuple, list] = {variant: [] for variant in grid}
        for seed in args.seeds:
            outer_train, _ = ratings_split(ratings, test_fraction=args.test_fraction, seed=seed)
            inner = _trained(
                outer_train,
                seed=seed + 1000,
                test_fraction=args.test_fraction,
                reuse=args.reuse,
                name=f"inner-{seed}-{args.test_fraction}",
            )
            genres_attach(inner[0], movies)
            (plain,) = _measure(inner, [PLAIN])
            for basis, tradeoff, window in grid:
                (varied,) = _measure(inner, [VARIED], tradeoff=tradeoff, window=window, basis=basis)
                curves[(basis, tradeoff, window)].append(_change(plain, varied))
            print(f"cross-validation: seed {seed} trained and scored ({time.monotonic() - started:.0f} s)", flush=True)
        print("\nvariety on the validation parts (training data only), mean over seeds:")
        print(f"{'basis':>8}{'λ':>6}{'window':>8}{'diversity':>12}{'p@10':>10}{'vector div.':>13}{'genre div.':>12}")
        admissible: dict[str, list] = {}
        for (basis, tradeoff, window), changes in curves.items():
            gain, loss, vector, genre = _mean_change(changes)
            print(f"{basis:>8}{tradeoff:>6.2f}{window:>8}{gain:>+12.1%}{-loss:>+10.1%}{vector:>+13.1%}{genre:>+12.1%}")
            if loss <= 0.10:
                # Each basis by the diversity it is about: evaluate_recommender's for the vectors,
                # the genres' for the genres.
                admissible.setdefault(basis, []).append((genre if basis == "genres" else gain, tradeoff, window))
        for basis, candidates in admissible.items():
            chosen[basis] = (basis, *max(candidates)[1:])
        print(
            f"chosen (largest mean gain, evaluate_recommender's diversity for the vectors and the genres' for "
            f"the genres, with mean p@10 loss <= 10 %): {', '.join(_label(v) for v in chosen.values())}; "
            f"served: {_label(served)}"
        )

    variants = [served] + [variant for variant in chosen.values() if variant != served]
    rows: dict[tuple, list] = {}
    changes: dict[tuple, list] = {variant: [] for variant in variants}
    ceilings: dict[str, list] = {}
    users = []
    for seed in args.seeds:
        outer = _trained(
            ratings,
            seed=seed,
            test_fraction=args.test_fraction,
            reuse=args.reuse,
            name=f"outer-{seed}-{args.test_fraction}",
        )
        genres_attach(outer[0], movies)
        for variant in variants:
            basis, tradeoff, window = variant
            results = _measure(outer, default_settings(), tradeoff=tradeoff, window=window, basis=basis)
            users.append(results[0].users)
            changes[variant].append(_variety_change(results))
            for result in results:
                if variant == served or result.controls.variety:
                    rows.setdefault((result.controls.discovery, result.controls.variety, variant), []).append(result)
        # The pool's ceiling: the greedy most diverse 10 of the same pool (λ = 1), by the similarity
        # each measure uses.
        for basis in ("ratings", "genres"):
            (most,) = _measure(outer, [VARIED], tradeoff=1.0, window=WINDOWS[-1], basis=basis)
            ceilings.setdefault(basis, []).append(most)
        print(f"test: seed {seed} trained and scored ({time.monotonic() - started:.0f} s)", flush=True)

    print(
        f"\nMovieLens {args.movielens}: split seeds {' '.join(map(str, args.seeds))}, test fraction "
        f"{args.test_fraction}; {min(users)}–{max(users)} test users; {time.monotonic() - started:.0f} s; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print("means over the seeds (test parts); diversity = evaluate_recommender's (rating vectors):")
    print(
        f"{'discovery':<16}{'variety':>26}{'p@10':>9}{'median support':>16}{'diversity':>11}{'vector div.':>13}{'genre div.':>12}"
    )
    for (step, variety, variant), results in sorted(
        rows.items(), key=lambda item: (item[0][1], item[0][2], item[0][0])
    ):
        label = _label(variant) if variety else "off"
        print(
            f"{DISCOVERY_STEPS[step]:<16}{label:>26}{np.mean([r.precision_at_10 for r in results]):>9.4f}"
            f"{np.mean([r.median_support for r in results]):>16.0f}{np.mean([r.diversity for r in results]):>11.3f}"
            f"{np.mean([r.vector_diversity for r in results]):>13.3f}"
            f"{np.mean([r.genre_diversity or 0.0 for r in results]):>12.3f}"
        )
    crowd, gems = rows[(1, False, served)], rows[(5, False, served)]
    crowd_support = float(np.mean([r.median_support for r in crowd]))
    gems_support = float(np.mean([r.median_support for r in gems]))
    ratio = gems_support / crowd_support if crowd_support else float("nan")
    print()
    print(
        f"hidden gems / crowd pleasers median support: {gems_support:.0f} / {crowd_support:.0f} "
        f"= {ratio:.3f} (target <= 0.1): {'PASS' if ratio <= 0.1 else 'FAIL'}"
    )
    balanced = rows[(3, False, served)]
    print("\nhow far +30 % is (balanced, per seed: plain → +30 % → the most diverse greedy 10 of the pool, its p@10):")
    for name, attribute, basis in (
        ("diversity (evaluate_recommender's)", "diversity", "ratings"),
        ("genre div.", "genre_diversity", "genres"),
    ):
        for seed, plain, most in zip(args.seeds, balanced, ceilings[basis], strict=True):
            value, top = getattr(plain, attribute), getattr(most, attribute)
            print(
                f"  {name}, seed {seed}: {value:.3f} → {1.3 * value:.3f} needed; the measure's maximum 1.0 is "
                f"{1 / value - 1:+.1%}; the pool's most diverse 10: {top:.3f} ({top / value - 1:+.1%}) at p@10 "
                f"{most.precision_at_10:.4f} ({most.precision_at_10 / plain.precision_at_10 - 1:+.1%})"
            )
    for variant in variants:
        print(f"more variety (balanced, {_label(variant)}, {'served' if variant == served else 'cross-validated'}):")
        for seed, change in zip(args.seeds, changes[variant], strict=True):
            print(
                f"  seed {seed}: diversity {change[0]:+.1%}, precision@10 {-change[1]:+.1%} "
                f"(vector div. {change[2]:+.1%}, genre div. {change[3]:+.1%})"
            )
        gain, loss, vector, genre = _mean_change(changes[variant])
        print(
            f"  mean: diversity {gain:+.1%}, vector div. {vector:+.1%}, genre div. {genre:+.1%} (target >= +30 %), "
            f"precision@10 {-loss:+.1%} (target >= -10 %): "
            + ", ".join(
                f"{name} {'PASS' if figure >= 0.3 and loss <= 0.1 else 'FAIL'}"
                for name, figure in (("diversity", gain), ("vector div.", vector), ("genre div.", genre))
            )
        )
    assert RankingControls().neutral
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

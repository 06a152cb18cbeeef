"""The members' controls on MovieLens: what "hidden gems" and "more variety" do to the top 10.

    python bench/bench_controls.py [--movielens ../shared/data/movielens-latest-small]
        [--seeds 42 43 44] [--cross-validate]

For each split seed, trains the production Spark job on the training part of a MovieLens split (as
``evaluate_recommender`` does: test fraction 0.2), keeps the job's output, and ranks every test
user's top 10 from their folded-in vectors with each discovery step, with and without "more
variety", through the functions the live list uses (``recommender.serving.ranking_controls``).
Prints precision@10, the median support (training ratings) of the recommended titles, and the
intra-list diversity (mean pairwise cosine distance of the ranking vectors; and of the genres'
Jaccard distance, from ``movies.csv``), per seed and the mean over seeds, then the two checks of
issue 19: "hidden gems" median support <= 1/10 of "crowd pleasers"; "variety" diversity +30 % for
at most 10 % precision lost.

``--cross-validate`` chooses variety's λ without looking at the test parts: for each seed the
training part is split again (test fraction 0.2, seed + 1000), the job trained on the inner
training part, and λ scored on the inner validation part; the λ with the largest mean diversity
gain whose mean precision@10 loss stays within 10 % is reported (and measured on the test parts
beside the served ``VARIETY_TRADEOFF``). Needs no database.
"""

from __future__ import annotations

import argparse
import os
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

from recommender.quality.controls import (  # noqa: E402
    controls_from_output,
    controls_measure,
    default_settings,
    genres_attach,
)
from recommender.quality.evaluation import movielens_evaluate, movielens_read, ratings_split  # noqa: E402
from recommender.serving.ranking_controls import DISCOVERY_STEPS, VARIETY_TRADEOFF, RankingControls  # noqa: E402

LAMBDAS = [round(0.25 + 0.05 * step, 2) for step in range(10)]  # 0.25 .. 0.70


def _trained(ratings, *, seed: int, test_fraction: float):
    """The job trained on ``ratings``' training part: (title side, user ids, user vectors, train, test)."""
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
    return side, user_ids, user_factors, train, test


def _measure(trained, settings, *, tradeoff=None):
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
    )


def _variety_change(results) -> tuple[float, float]:
    """(diversity gain, precision@10 loss) of "balanced" with variety over "balanced" without."""
    by_setting = {(result.controls.discovery, result.controls.variety): result for result in results}
    plain, varied = by_setting[(3, False)], by_setting[(3, True)]
    return varied.diversity / plain.diversity - 1, 1 - varied.precision_at_10 / plain.precision_at_10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("IMDBREC_SHARED_DATA", ROOT.parent / "shared" / "data")) / "movielens-latest-small"
    parser.add_argument("--movielens", default=str(default))
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--cross-validate", action="store_true", help="choose variety's λ on the training parts")
    args = parser.parse_args()

    ratings = movielens_read(args.movielens)
    movies = Path(args.movielens) / "movies.csv"
    started = time.monotonic()
    chosen = None
    if args.cross_validate:
        curves = {tradeoff: [] for tradeoff in LAMBDAS}
        pair = [RankingControls(discovery=3), RankingControls(discovery=3, variety=True)]
        for seed in args.seeds:
            outer_train, _ = ratings_split(ratings, test_fraction=args.test_fraction, seed=seed)
            inner = _trained(outer_train, seed=seed + 1000, test_fraction=args.test_fraction)
            for tradeoff in LAMBDAS:
                curves[tradeoff].append(_variety_change(_measure(inner, pair, tradeoff=tradeoff)))
            print(f"cross-validation: seed {seed} trained and scored ({time.monotonic() - started:.0f} s)", flush=True)
        print("\nvariety's λ on the validation parts (training data only), mean over seeds:")
        print(f"{'λ':>6}{'diversity':>12}{'p@10 loss':>12}")
        admissible = []
        for tradeoff, changes in curves.items():
            gain, loss = float(np.mean([c[0] for c in changes])), float(np.mean([c[1] for c in changes]))
            print(f"{tradeoff:>6.2f}{gain:>+12.1%}{-loss:>+12.1%}")
            if loss <= 0.10:
                admissible.append((gain, tradeoff))
        chosen = max(admissible)[1] if admissible else None
        print(
            f"chosen: λ = {chosen} (largest mean gain with mean loss <= 10 %); served VARIETY_TRADEOFF = {VARIETY_TRADEOFF}"
        )

    tradeoffs = [VARIETY_TRADEOFF] + ([chosen] if chosen is not None and chosen != VARIETY_TRADEOFF else [])
    rows: dict[tuple, list] = {}
    changes: dict[float, list] = {tradeoff: [] for tradeoff in tradeoffs}
    users = []
    for seed in args.seeds:
        outer = _trained(ratings, seed=seed, test_fraction=args.test_fraction)
        if movies.is_file():
            genres_attach(outer[0], movies)
        for tradeoff in tradeoffs:
            results = _measure(outer, default_settings(), tradeoff=tradeoff)
            users.append(results[0].users)
            changes[tradeoff].append(_variety_change(results))
            for result in results:
                if tradeoff == VARIETY_TRADEOFF or result.controls.variety:
                    rows.setdefault((result.controls.discovery, result.controls.variety, tradeoff), []).append(result)
        print(f"test: seed {seed} trained and scored ({time.monotonic() - started:.0f} s)", flush=True)

    print(
        f"\nMovieLens {args.movielens}: split seeds {' '.join(map(str, args.seeds))}, test fraction "
        f"{args.test_fraction}; {min(users)}–{max(users)} test users; {time.monotonic() - started:.0f} s; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print("means over the seeds (test parts):")
    print(f"{'discovery':<16}{'variety':>12}{'p@10':>9}{'median support':>16}{'diversity':>11}{'genre div.':>12}")
    for (step, variety, tradeoff), results in sorted(
        rows.items(), key=lambda item: (item[0][1], item[0][2], item[0][0])
    ):
        genre_values = [result.genre_diversity for result in results if result.genre_diversity is not None]
        genre = f"{np.mean(genre_values):.3f}" if genre_values else "—"
        label = f"on λ={tradeoff}" if variety else "off"
        print(
            f"{DISCOVERY_STEPS[step]:<16}{label:>12}{np.mean([r.precision_at_10 for r in results]):>9.4f}"
            f"{np.mean([r.median_support for r in results]):>16.0f}{np.mean([r.diversity for r in results]):>11.3f}{genre:>12}"
        )
    crowd, gems = rows[(1, False, VARIETY_TRADEOFF)], rows[(5, False, VARIETY_TRADEOFF)]
    crowd_support = float(np.mean([r.median_support for r in crowd]))
    gems_support = float(np.mean([r.median_support for r in gems]))
    ratio = gems_support / crowd_support if crowd_support else float("nan")
    print()
    print(
        f"hidden gems / crowd pleasers median support: {gems_support:.0f} / {crowd_support:.0f} "
        f"= {ratio:.3f} (target <= 0.1): {'PASS' if ratio <= 0.1 else 'FAIL'}"
    )
    for tradeoff in tradeoffs:
        gain = float(np.mean([change[0] for change in changes[tradeoff]]))
        loss = float(np.mean([change[1] for change in changes[tradeoff]]))
        per_seed = ", ".join(f"{change[0]:+.1%}/{-change[1]:+.1%}" for change in changes[tradeoff])
        served = "served" if tradeoff == VARIETY_TRADEOFF else "cross-validated"
        print(
            f"more variety (balanced, λ={tradeoff}, {served}): diversity {gain:+.1%} (target >= +30 %), precision@10 "
            f"{-loss:+.1%} (target >= -10 %), mean of seeds [{per_seed}]: {'PASS' if gain >= 0.3 and loss <= 0.1 else 'FAIL'}"
        )
    assert RankingControls().neutral
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The members' controls on MovieLens: what "hidden gems" and "more variety" do to the top 10.

    python bench/bench_controls.py [--movielens ../shared/data/movielens-latest-small] [--seed 42]

Trains the production Spark job on the training part of a MovieLens split (as
``evaluate_recommender`` does: test fraction 0.2), keeps the job's output, and ranks every test
user's top 10 from their folded-in vectors with each discovery step, with and without "more
variety", through the functions the live list uses (``recommender.serving.ranking_controls``).
Prints precision@10, the median support (training ratings) of the recommended titles, and the
intra-list diversity (mean pairwise cosine distance of the ranking vectors; and of the genres'
Jaccard distance, from ``movies.csv``), then the two checks of issue 19:
"hidden gems" median support <= 1/10 of "crowd pleasers"; "variety" diversity +30 % for at most
10 % precision lost. Needs no database.
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
from recommender.serving.ranking_controls import DISCOVERY_STEPS, RankingControls  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("IMDBREC_SHARED_DATA", ROOT.parent / "shared" / "data")) / "movielens-latest-small"
    parser.add_argument("--movielens", default=str(default))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    args = parser.parse_args()

    exchange = Path(tempfile.mkdtemp(prefix="bench-controls-"))
    started = time.monotonic()
    try:
        report = movielens_evaluate(
            path=args.movielens,
            test_fraction=args.test_fraction,
            seed=args.seed,
            exchange_dir=exchange,
            keep_files=True,
        )
        assert report.directory is not None
        side, user_ids, user_factors = controls_from_output(
            report.directory / "output", popularity_weight=float(report.model.get("popularity_weight") or 0.0)
        )
    finally:
        trained = time.monotonic() - started
    movies = Path(args.movielens) / "movies.csv"
    if movies.is_file():
        genres_attach(side, movies)
    train, test = ratings_split(movielens_read(args.movielens), test_fraction=args.test_fraction, seed=args.seed)
    started = time.monotonic()
    results = controls_measure(
        side,
        user_ids,
        user_factors,
        train["user"].to_numpy().astype(np.int64),
        train["item"].to_numpy().astype(np.int64),
        test["user"].to_numpy().astype(np.int64),
        test["item"].to_numpy().astype(np.int64),
        default_settings(),
    )
    measured = time.monotonic() - started
    shutil.rmtree(exchange, ignore_errors=True)

    print(
        f"MovieLens {args.movielens}: split seed {args.seed}, test fraction {args.test_fraction}; "
        f"{results[0].users} test users; training {trained:.0f} s, ranking {measured:.1f} s; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'discovery':<16}{'variety':>8}{'p@10':>9}{'median support':>16}{'diversity':>11}{'genre div.':>12}")
    by_setting = {}
    for result in results:
        controls = result.controls
        by_setting[(controls.discovery, controls.variety)] = result
        genre = "—" if result.genre_diversity is None else f"{result.genre_diversity:.3f}"
        print(
            f"{DISCOVERY_STEPS[controls.discovery]:<16}{'on' if controls.variety else 'off':>8}"
            f"{result.precision_at_10:>9.4f}{result.median_support:>16.0f}{result.diversity:>11.3f}{genre:>12}"
        )
    crowd, gems = by_setting[(1, False)], by_setting[(5, False)]
    plain, varied = by_setting[(3, False)], by_setting[(3, True)]
    ratio = gems.median_support / crowd.median_support if crowd.median_support else float("nan")
    gain = varied.diversity / plain.diversity - 1 if plain.diversity else float("nan")
    loss = 1 - varied.precision_at_10 / plain.precision_at_10 if plain.precision_at_10 else float("nan")
    print()
    print(
        f"hidden gems / crowd pleasers median support: {gems.median_support:.0f} / {crowd.median_support:.0f} "
        f"= {ratio:.3f} (target <= 0.1): {'PASS' if ratio <= 0.1 else 'FAIL'}"
    )
    genre_gain = (
        f"; genre diversity {varied.genre_diversity / plain.genre_diversity - 1:+.1%}"
        if plain.genre_diversity and varied.genre_diversity is not None
        else ""
    )
    print(
        f"more variety (balanced): diversity {gain:+.1%} (target >= +30 %), precision@10 "
        f"{plain.precision_at_10:.4f} -> {varied.precision_at_10:.4f} ({-loss:+.1%}, target >= -10 %){genre_gain}: "
        f"{'PASS' if gain >= 0.3 and loss <= 0.1 else 'FAIL'}"
    )
    assert RankingControls().neutral
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How ``content_few_weight`` was chosen (recommender/DESIGN.md §11): cross-validation inside the
training part of ml-latest-small, over several split seeds, never on a test part.

    nice -n 19 python bench/bench_content_lift_cv.py SEEDS WEIGHTS [--params JSON]
    e.g. python bench/bench_content_lift_cv.py 1,2,3,4,5 0,1,2,4

For each seed: the evaluation's split (``evaluate_recommender``: 20 % held out by
``default_rng(seed)``, ``quality.evaluation.ratings_split``) is drawn and its test part thrown away;
the training part is split again the same way with seed + 1000 (20 % validation), and the
production Spark job (``quality.evaluation.movielens_evaluate``, MovieLens's genres and years as
its content side) is trained on the rest with each weight and scored on the validation part.
Prints one JSON line per (seed, weight): precision@10, NDCG@10, and the titles with fewer than 5
training ratings in the top 10s (share of slots, of users), then the means per weight.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imdbrec.settings.dev")
MOVIELENS = Path(os.environ.get("IMDBREC_SHARED_DATA") or ROOT.parent / "shared" / "data") / "movielens-latest-small"
KEYS = ("precision_at_10", "ndcg_at_10", "few_ratings_share", "few_ratings_users")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("seeds", help="outer split seeds, e.g. 1,2,3,4,5")
    parser.add_argument("weights", help="content_few_weight values, e.g. 0,1,2,4")
    parser.add_argument("--params", default="{}", help="other training parameters (JSON)")
    arguments = parser.parse_args()
    django.setup()
    import numpy as np

    from recommender.quality.evaluation import movielens_evaluate, movielens_read, ratings_split

    ratings = movielens_read(MOVIELENS)
    extra = json.loads(arguments.params)
    results: dict[float, list[dict]] = {}
    for seed in (int(value) for value in arguments.seeds.split(",")):
        training, _ = ratings_split(ratings, test_fraction=0.2, seed=seed)  # the test part is never read
        for weight in (float(value) for value in arguments.weights.split(",")):
            report = movielens_evaluate(
                path=MOVIELENS,
                ratings=training,
                test_fraction=0.2,
                seed=seed + 1000,
                params={**extra, "content_few_weight": weight},
                baselines=False,
            )
            row = {key: report.metrics.get(key) for key in KEYS}
            results.setdefault(weight, []).append(row)
            print(json.dumps({"seed": seed, "weight": weight, **row}), flush=True)
    for weight, rows in results.items():
        means = {key: round(float(np.mean([row[key] for row in rows])), 4) for key in KEYS}
        print(json.dumps({"weight": weight, "seeds": len(rows), "mean": means}), flush=True)


if __name__ == "__main__":
    main()

"""The ranking model's size, tried the way Rendle et al. (2022) tune implicit ALS, with and without
the item-item term (recommender/DESIGN.md §9): cross-validation inside the training part of
ml-latest-small, never on a test part.

    nice -n 19 python bench/bench_ranking_cv.py SEEDS ALS_CONFIGS_JSON TERM_CONFIGS_JSON
    e.g. python bench/bench_ranking_cv.py 1,2 '{"d": {"rank": 48, "reg": 0.1, "it": 7},
         "r96": {"rank": 96, "reg": 0.2, "it": 12}}' '{"e": {"lam": 300, "cap": 3000, "k": 200,
         "betas": [1, 2, 3], "zbetas": [0.5, 1]}}'

Same split and replica as ``bench_item_item_cv.py`` (the evaluation's seed-s training part, 20 %
of it as validation; the numpy implicit ALS built on ``scoring.ranking_systems``; popularity blend
0.3). Per ALS configuration (rank, reg, iterations ``it``, ``alpha``, activity exponent ``act``):
the model alone, plus beta · the pruned EASE term of each term configuration (λ ``lam``, ``k``
neighbours per title, ``cap`` most-rated titles, ratings weighted (reference / n_u) ^ ``exp``,
0.5 unless given), and the blend of per-user standardised scores z(model) + zbeta · z(term).
One JSON line per ALS configuration as it finishes, then one per seed with everything.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_item_item_cv as replica  # noqa: E402


def standardised(scores: np.ndarray) -> np.ndarray:
    """Each user's scores as z-scores over the titles, so two terms blend on one scale."""
    return (scores - scores.mean(1, keepdims=True)) / (scores.std(1, keepdims=True) + 1e-9)


def experiment(frame, seed, als_configs, term_configs):
    training = ~(np.random.default_rng(seed).random(len(frame)) < 0.2)  # the test part is never read
    user_ids, item_ids = frame.userId.to_numpy()[training], frame.movieId.to_numpy()[training]
    validation = np.random.default_rng(seed + 1000).random(len(user_ids)) < 0.2
    users = np.unique(user_ids, return_inverse=True)[1]
    items = np.unique(item_ids, return_inverse=True)[1]
    user_count, item_count = users.max() + 1, items.max() + 1
    fit_users, fit_items = users[~validation], items[~validation]
    check = (fit_users, fit_items, users[validation], items[validation])
    counts = np.bincount(fit_users, minlength=user_count)
    reference = np.median(counts[counts > 0])
    support = np.bincount(fit_items, minlength=item_count)
    popularity = np.log1p(support) / np.log1p(support.max())
    out: dict = {}
    terms = {}
    for name, config in term_configs.items():
        chosen, weights = replica.ease_weights(
            fit_users, fit_items, user_count, item_count, config["lam"], config["cap"]
        )
        full = replica.pruned(chosen, weights, config["k"], item_count)
        weight = (reference / counts[fit_users]) ** config.get("exp", 0.5)
        terms[name] = np.asarray(
            sparse.csr_matrix((weight, (fit_users, fit_items)), shape=(user_count, item_count)) @ full
        )
        out[f"{name} alone"] = replica.metrics(terms[name] + 1e-6 * popularity, *check)
    for als_name, config in als_configs.items():
        started = time.time()
        user_vectors, item_vectors = replica.ials(
            fit_users,
            fit_items,
            (reference / counts[fit_users]) ** config.get("act", 1.0),
            user_count,
            item_count,
            rank=config["rank"],
            reg=config["reg"],
            alpha=config.get("alpha", 1.0),
            iterations=config["it"],
        )
        base = user_vectors @ item_vectors.T + config.get("pw", 0.3) * popularity
        out[als_name] = replica.metrics(base, *check)
        out[f"{als_name} seconds"] = round(time.time() - started, 1)
        print(json.dumps({"seed": seed, als_name: [round(x, 4) for x in out[als_name]]}), flush=True)
        for term_name, term in terms.items():
            for beta in term_configs[term_name].get("betas", []):
                out[f"{als_name}+{term_name} b{beta}"] = replica.metrics(base + beta * term, *check)
            for beta in term_configs[term_name].get("zbetas", []):
                out[f"{als_name}+{term_name} z{beta}"] = replica.metrics(
                    standardised(base) + beta * standardised(term), *check
                )
    return out


if __name__ == "__main__":
    ratings = pd.read_csv(replica.MOVIELENS)
    for seed in [int(seed) for seed in sys.argv[1].split(",")]:
        result = experiment(ratings, seed, json.loads(sys.argv[2]), json.loads(sys.argv[3]))
        print(
            json.dumps(
                {
                    "seed": seed,
                    **{k: [round(x, 4) for x in v] if isinstance(v, tuple) else v for k, v in result.items()},
                }
            )
        )

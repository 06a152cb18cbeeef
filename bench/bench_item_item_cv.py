"""How the item-item term's defaults were chosen (recommender/DESIGN.md §1, §9): cross-validation
inside the training part of ml-latest-small, over several split seeds, never on a test part.

    nice -n 19 python bench/bench_item_item_cv.py SEEDS CONFIGS_JSON
    e.g. python bench/bench_item_item_cv.py 1,2,3,4,5 '{"e300k200c3": {"kind": "ease", "par": 300,
         "k": 200, "cap": 3000, "exps": [0, 0.5], "betas": [1, 2, 3]}}'

For each seed: the evaluation's split (``evaluate_recommender``: 20 % held out by
``default_rng(seed)``) is drawn and its test part thrown away; 20 % of the training part
(``default_rng(seed + 1000)``) becomes the validation part. A numpy replica of the ranking model
(implicit ALS with the job's activity-normalised strengths, rank 48, reg 0.1, 7 iterations, the
training's own ``scoring.ranking_systems`` for every half-step, popularity blend 0.3; no content
side) is fitted on the rest, and precision@10 / NDCG@10 on the validation part are printed for the
model alone, EASE alone (``easeRef`` with ``alone``) and the model plus beta · the item-item term of
each configuration: pruned EASE (``ease``: λ = par) or shrunk cosine (``cos``: shrink = par), ``k``
neighbours per title, ``cap`` most-rated titles, each rating weighted (reference / n_u) ^ exp.
One JSON line per seed.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shareddata import MOVIELENS_SMALL  # noqa: E402

from recommender.spark import scoring  # noqa: E402

MOVIELENS = MOVIELENS_SMALL / "ratings.csv"


def ials(users, items, weights, user_count, item_count, rank=48, reg=0.1, alpha=1.0, iterations=7, seed=0):
    """Implicit ALS as the job fits it (Spark's ALS-WR regularisation), then one user half-step."""
    rng = np.random.default_rng(seed)
    user_vectors = rng.normal(0, 0.01, (user_count, rank))
    item_vectors = rng.normal(0, 0.01, (item_count, rank))

    def half(fixed, segment, other, confidence, size):
        order = np.argsort(segment, kind="stable")
        segment, other, confidence = segment[order], other[order], confidence[order]
        counts = np.bincount(segment, minlength=size)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        gram = fixed.T @ fixed
        out = np.zeros((size, rank))
        for block, width in scoring._fold_in_blocks(counts):
            lanes = np.arange(width)
            valid = lanes < counts[block][:, None]
            index = np.where(valid, starts[block][:, None] + lanes, 0)
            vectors = fixed[other[index]]
            vectors[~valid] = 0
            matrices, targets = scoring.ranking_systems(
                vectors, np.where(valid, confidence[index], 0.0), counts[block], gram, reg
            )
            out[block] = np.linalg.solve(matrices, targets[..., None])[..., 0]
        return out

    confidence = alpha * weights
    for _ in range(iterations):
        user_vectors = half(item_vectors, users, items, confidence, user_count)
        item_vectors = half(user_vectors, items, users, confidence, item_count)
    return half(item_vectors, users, items, confidence, user_count), item_vectors


def metrics(scores, seen_users, seen_items, test_users, test_items):
    scores = scores.copy()
    scores[seen_users, seen_items] = -np.inf
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), axis=1), 1)
    relevant = np.zeros(scores.shape, bool)
    relevant[test_users, test_items] = True
    hit = np.take_along_axis(relevant, top, 1)
    count = relevant.sum(1)
    scored = count > 0
    discounts = 1 / np.log2(np.arange(2, 12))
    ideal = np.concatenate([[0], np.cumsum(discounts)])[np.minimum(count, 10)]
    ndcg = np.where(ideal > 0, (hit * discounts).sum(1) / np.maximum(ideal, 1e-9), 0)
    return float((hit.sum(1) / 10)[scored].mean()), float(ndcg[scored].mean())


def capped(users, items, user_count, item_count, cap):
    support = np.bincount(items, minlength=item_count)
    chosen = np.sort(np.argsort(-support, kind="stable")[:cap])
    binary = sparse.csr_matrix((np.ones(len(users)), (users, items)), shape=(user_count, item_count))
    return chosen, (binary[:, chosen].T @ binary[:, chosen]).toarray()


def ease_weights(users, items, user_count, item_count, lam, cap):
    chosen, gram = capped(users, items, user_count, item_count, cap)
    inverse = np.linalg.inv(gram + lam * np.eye(len(chosen)))
    weights = -inverse / np.diag(inverse)[None, :]
    np.fill_diagonal(weights, 0)
    return chosen, weights


def cosine_weights(users, items, user_count, item_count, shrink, cap):
    chosen, gram = capped(users, items, user_count, item_count, cap)
    support = np.diag(gram).copy()
    np.fill_diagonal(gram, 0)
    return chosen, gram / (np.sqrt(np.outer(support, support)) + shrink)


def pruned(chosen, weights, k, item_count):
    """Each source title's ``k`` largest positive weights, on the whole item range."""
    if k < weights.shape[1]:
        weights = np.where(weights >= -np.partition(-weights, k, axis=1)[:, k - 1 : k], weights, 0)
    full = np.zeros((item_count, item_count), np.float32)
    full[np.ix_(chosen, chosen)] = np.maximum(weights, 0)
    return full


def experiment(frame, outer_seed, inner_seed, configs):
    training = ~(np.random.default_rng(outer_seed).random(len(frame)) < 0.2)  # the test part is never read
    user_ids, item_ids = frame.userId.to_numpy()[training], frame.movieId.to_numpy()[training]
    validation = np.random.default_rng(inner_seed).random(len(user_ids)) < 0.2
    users = np.unique(user_ids, return_inverse=True)[1]
    items = np.unique(item_ids, return_inverse=True)[1]
    user_count, item_count = users.max() + 1, items.max() + 1
    fit_users, fit_items = users[~validation], items[~validation]
    check_users, check_items = users[validation], items[validation]
    counts = np.bincount(fit_users, minlength=user_count)
    reference = np.median(counts[counts > 0])
    user_vectors, item_vectors = ials(fit_users, fit_items, reference / counts[fit_users], user_count, item_count)
    support = np.bincount(fit_items, minlength=item_count)
    base = user_vectors @ item_vectors.T + 0.3 * np.log1p(support) / np.log1p(support.max())
    out = {"base": metrics(base, fit_users, fit_items, check_users, check_items)}
    for name, config in configs.items():
        fit = ease_weights if config["kind"] == "ease" else cosine_weights
        chosen, weights = fit(fit_users, fit_items, user_count, item_count, config["par"], config["cap"])
        full = pruned(chosen, weights, config["k"], item_count)
        for exponent in config["exps"]:
            weight = (reference / counts[fit_users]) ** exponent
            term = np.asarray(
                sparse.csr_matrix((weight, (fit_users, fit_items)), shape=(user_count, item_count)) @ full
            )
            for beta in config["betas"]:
                out[f"{name} e{exponent} b{beta}"] = metrics(
                    base + beta * term, fit_users, fit_items, check_users, check_items
                )
            if config.get("alone"):
                out[f"{name} alone"] = metrics(term + 1e-6 * base, fit_users, fit_items, check_users, check_items)
    return out


if __name__ == "__main__":
    ratings = pd.read_csv(MOVIELENS)
    for seed in [int(seed) for seed in sys.argv[1].split(",")]:
        result = experiment(ratings, seed, seed + 1000, json.loads(sys.argv[2]))
        print(json.dumps({"seed": seed, **{k: [round(v[0], 4), round(v[1], 4)] for k, v in result.items()}}))

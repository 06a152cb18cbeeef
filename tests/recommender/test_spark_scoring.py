"""The numpy side of the Spark job (recommender/spark/scoring.py) and its parameters, against the
formulas of recommender/DESIGN.md; and the job's command line refusing bad input before Spark starts."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from django.conf import settings

from recommender.spark import scoring
from recommender.spark.params import DEFAULT_GRID, ParamsError, grid_candidates, params_resolve

MODEL = {
    "scale_min": 1.0,
    "scale_max": 5.0,
    "star_weight": 1.0,
    "activity_reference": 4.0,
    "activity_exponent": 1.0,
    "alpha": 2.0,
    "reg": 0.1,
    "global_mean": 3.5,
    "bias_reg_user": 5.0,
    "rating_reg": 0.1,
    "popularity_weight": 0.3,
    "confidence_user_prior": 10.0,
    "confidence_title_prior": 10.0,
}


def _side(seed=1, items=12, rank=3):
    rng = np.random.default_rng(seed)
    return scoring.ItemSide.build(
        ids=rng.permutation(np.arange(100, 100 + items)),
        factors=rng.normal(size=(items, rank)),
        rating_factors=rng.normal(size=(items, 2)),
        bias=rng.normal(0, 0.3, items),
        support=rng.integers(1, 50, items),
    )


def test_ranking_fold_in_minimises_the_implicit_objective():
    side = _side()
    rows = np.array([0, 3, 5, 7])
    ratings = np.array([5.0, 4.0, 1.0, 3.0])
    x = scoring.ranking_fold_in(rows, ratings, side, MODEL).astype(np.float64)
    # Σ_i c_ui (p_ui − x·y_i)² + reg n_u ‖x‖² over every title: its gradient vanishes at the fold-in.
    weights = MODEL["alpha"] * scoring.strength(ratings, len(rows), MODEL)
    confidence = np.ones(len(side.ids))
    confidence[rows] += weights
    preference = np.zeros(len(side.ids))
    preference[rows] = 1.0
    Y = side.factors.astype(np.float64)
    gradient = -2 * (Y.T * confidence) @ (preference - Y @ x) + 2 * MODEL["reg"] * len(rows) * x
    assert np.abs(gradient).max() < 1e-4
    # Stars lift the weight, heavy raters' single ratings weigh less.
    assert scoring.strength(np.array([5.0]), 4, MODEL)[0] > scoring.strength(np.array([1.0]), 4, MODEL)[0]
    assert scoring.strength(np.array([5.0]), 40, MODEL)[0] < scoring.strength(np.array([5.0]), 4, MODEL)[0]


def test_rating_fold_in_solves_bias_then_vector():
    side = _side()
    rows = np.array([1, 2, 4])
    ratings = np.array([4.0, 5.0, 2.0])
    vector, bias = scoring.rating_fold_in(rows, ratings, side, MODEL)
    expected_bias = (ratings - MODEL["global_mean"] - side.bias[rows]).sum() / (MODEL["bias_reg_user"] + 3)
    assert bias == pytest.approx(expected_bias, rel=1e-6)
    Q = side.rating_factors[rows].astype(np.float64)
    residual = ratings - MODEL["global_mean"] - bias - side.bias[rows]
    np.testing.assert_allclose((Q.T @ Q + MODEL["rating_reg"] * 3 * np.eye(2)) @ vector, Q.T @ residual, atol=1e-4)
    stars = scoring.stars_predict(vector * 100, bias, np.array([0, 1, -1]), side, MODEL)
    assert ((stars >= 1) & (stars <= 5)).all()  # clipped to the scale
    assert scoring.stars_predict(vector, bias, np.array([-1]), side, MODEL)[0] == pytest.approx(
        np.clip(MODEL["global_mean"] + bias, 1, 5)
    )  # a title the run does not know: mu + b_u


def test_confidence_is_in_the_unit_interval_and_grows_with_evidence():
    preference = np.array([-3.0, 0.0, 0.2, 0.9, 7.0])
    support = np.array([0, 1, 5, 50, 5000])
    values = scoring.confidence(preference, 30, support, MODEL)
    assert ((values >= 0) & (values <= 1)).all()
    assert values[0] == 0 and values[1] == 0
    assert (
        scoring.confidence(np.array([0.5]), 100, np.array([100]), MODEL)[0]
        > scoring.confidence(np.array([0.5]), 2, np.array([100]), MODEL)[0]
    )


def test_confidence_takes_the_runs_exponent_and_older_runs_keep_the_cube_root():
    preference, support = np.array([0.0, 0.3, 0.8, 1.4]), np.array([40, 40, 3, 400])
    product = np.clip(preference, 0, 1) * 30 / (30 + 10.0) * support / (support + 10.0)
    np.testing.assert_allclose(scoring.confidence(preference, 30, support, MODEL), np.cbrt(product), rtol=1e-9)
    square_root = scoring.confidence(preference, 30, support, {**MODEL, "confidence_exponent": 0.5})
    np.testing.assert_allclose(square_root, np.sqrt(product), rtol=1e-12)
    assert (square_root[1:] < np.cbrt(product)[1:]).all()  # a weaker root spreads the values down


def test_top_k_orders_and_leaves_out_excluded_titles():
    scores = np.array([[0.1, 0.9, 0.5, 0.7, 0.3], [1.0, 0.0, 0.2, 0.4, 0.6]], dtype=np.float32)
    scores[0, 1] = scores[1, 0] = scores[1, 4] = -np.inf  # excluded
    best, values, valid = scoring.top_k(scores, 3)
    assert best.tolist() == [[3, 2, 4], [3, 2, 1]] and valid.all()
    assert values[0].tolist() == pytest.approx([0.7, 0.5, 0.3])
    everything = scores[:1].copy()
    everything[0, :4] = -np.inf
    best, _, valid = scoring.top_k(everything, 3)
    assert best[0][valid[0]].tolist() == [4]  # fewer candidates than asked: no excluded title fills the gap
    assert scoring.top_k(scores, 0)[0].shape == (2, 0)


@pytest.mark.parametrize("kind", ["normal", "ties", "float64", "popular first"])
def test_top_k_equals_a_full_sort_on_wide_and_narrow_rows(kind):
    """The strided-groups bound (wide rows) and the plain sort (narrow rows) both give exactly the
    first ``count`` entries of a full sort by score, ties by position, -inf never before a finite one."""
    rng = np.random.default_rng(len(kind))
    for _ in range(60):
        rows, width, count = int(rng.integers(0, 30)), int(rng.integers(1, 4000)), int(rng.integers(1, 80))
        if kind == "ties":
            scores = rng.integers(0, 4, (rows, width)).astype(np.float32)
        elif kind == "popular first":  # alike neighbours: the best titles all in the first columns
            scores = (np.linspace(3, 0, width)[None, :] + rng.normal(0, 0.01, (rows, width))).astype(np.float32)
        else:
            scores = rng.normal(size=(rows, width)).astype(np.float64 if kind == "float64" else np.float32)
        scores[rng.random((rows, width)) < rng.random()] = -np.inf
        best, values, valid = scoring.top_k(scores, count)
        expected = np.argsort(-scores, axis=1, kind="stable")[:, :count]
        expected_values = np.take_along_axis(scores, expected, axis=1)
        assert best.shape == values.shape == valid.shape == (rows, min(count, width))
        assert (valid == np.isfinite(expected_values)).all()
        assert (np.where(valid, best, -1) == np.where(valid, expected, -1)).all()
        assert (values[valid] == expected_values[valid]).all()


def test_holdout_score_matches_a_per_user_reading_of_the_metrics():
    """precision@k, NDCG@k (model and most popular), stars and confidence of DESIGN.md §8,
    against the definitions computed one user at a time with sets."""
    rng = np.random.default_rng(11)
    side = _side(seed=6, items=30, rank=3)
    users, k = 40, 10
    folded = scoring.FoldIn(
        factors=rng.normal(size=(users, 3)),
        rating_factors=rng.normal(size=(users, 2)),
        bias=rng.normal(0, 0.3, users),
        counts=rng.integers(0, 20, users),
    )
    train = {u: rng.choice(30, rng.integers(0, 25), replace=False) for u in range(users)}
    test = {
        u: np.setdiff1d(rng.choice(side.ids, rng.integers(1, 6), replace=False), side.ids[train[u]])
        for u in range(users)
    }
    test = {u: np.append(items, 999) if u % 7 == 0 else items for u, items in test.items()}  # an unknown title
    test = {u: items for u, items in test.items() if len(items)}
    train_segment = np.concatenate([np.full(len(rows), u) for u, rows in train.items()])
    test_segment = np.concatenate([np.full(len(items), u) for u, items in test.items()])

    scored = scoring.holdout_score(
        folded,
        train_segment,
        np.concatenate(list(train.values())),
        test_segment,
        np.concatenate(list(test.values())),
        side,
        MODEL,
        k,
    )

    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    popular = np.argsort(-side.support, kind="stable")

    def metrics(ranked_rows, relevant):
        hits = np.array([1.0 if side.ids[row] in relevant else 0.0 for row in ranked_rows[:k]])
        ideal = discounts[: min(k, len(relevant))].sum()
        return hits.sum() / k, (hits * discounts[: len(hits)]).sum() / ideal

    for u in range(users):
        relevant = set(test.get(u, np.empty(0)).tolist())
        if not relevant:
            assert scored.precision[u] == 0 and scored.ndcg[u] == 0
            continue
        scores = side.factors @ folded.factors[u] + MODEL["popularity_weight"] * side.popularity
        allowed = [row for row in np.argsort(-scores, kind="stable") if row not in set(train[u].tolist())]
        assert (scored.precision[u], scored.ndcg[u]) == pytest.approx(metrics(allowed, relevant))
        allowed_popular = [row for row in popular if row not in set(train[u].tolist())]
        assert (scored.pop_precision[u], scored.pop_ndcg[u]) == pytest.approx(metrics(allowed_popular, relevant))
    rows = side.positions(np.concatenate(list(test.values())))
    expected = [
        scoring.stars_predict(folded.rating_factors[u], folded.bias[u], np.array([row]), side, MODEL)[0]
        for u, row in zip(test_segment, rows, strict=True)
    ]
    assert scored.pair_predicted == pytest.approx(expected)
    assert scored.pair_confidence[rows == -1] == pytest.approx(0.0)
    assert ((scored.top_confidence >= 0) & (scored.top_confidence <= 1)).all()
    assert scored.top_hit.sum() == pytest.approx(scored.precision.sum() * k)


def test_item_side_positions():
    side = _side()
    assert side.positions([100, 111, 5000]).tolist()[2] == -1
    assert side.ids[side.positions([111])[0]] == 111
    assert side.gram == pytest.approx(side.factors.astype(np.float64).T @ side.factors.astype(np.float64))


def test_grid_candidates_fit_one_model_each():
    params = params_resolve({"grid": True})
    candidates = grid_candidates(params)
    ranking = [c for c in candidates if c["kind"] == "ranking"]
    rating = [c for c in candidates if c["kind"] == "rating"]
    assert len(ranking) == len(DEFAULT_GRID["rank"]) * len(DEFAULT_GRID["reg"]) * len(DEFAULT_GRID["alpha"])
    assert len(rating) == len(DEFAULT_GRID["rating_rank"]) * len(DEFAULT_GRID["rating_reg"])
    assert all(set(c) <= {"kind", "rank", "reg", "alpha"} for c in ranking)
    sampled = grid_candidates(params_resolve({"grid": True, "grid_max_candidates": 4}))
    assert len([c for c in sampled if c["kind"] == "ranking"]) == 4
    with pytest.raises(ParamsError, match="rank must be between"):
        params_resolve({"grid": {"rank": [8, 0]}})


def test_the_job_refuses_bad_arguments_before_starting_spark(tmp_path):
    command = [
        sys.executable,
        "-m",
        "recommender.spark.train_als",
        "--input",
        str(tmp_path),
        "--output",
        str(tmp_path / "out"),
        "--params",
        json.dumps({"rank": -1}),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=60)
    assert done.returncode == 2
    assert "rank must be between 1 and 500" in done.stderr
    assert "RESULT" not in done.stdout
    done = subprocess.run(
        command[:-2] + ["--params", "{not json"], capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=60
    )
    assert done.returncode == 2 and "bad --params" in done.stderr


def test_the_executors_passes_import_without_pandas_or_pyspark():
    """Spark tasks import ``passes`` (and what it imports) in every Python worker: it stays numpy,
    pyarrow and ``scoring`` only, with no driver-only module behind it."""
    script = (
        "import sys, recommender.spark.passes; "
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('pandas', 'pyspark', 'django')))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=settings.BASE_DIR)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_fold_in_of_many_users_solves_each_users_equations():
    """Users folded in together (blocks padded to their longest list, batched solves) get exactly
    the solutions of their own normal equations, written out here one user at a time."""
    rng = np.random.default_rng(0)
    count = 300
    side = scoring.ItemSide.build(
        ids=np.arange(count),
        factors=rng.normal(size=(count, 8)),
        rating_factors=rng.normal(size=(count, 5)),
        bias=rng.normal(size=count),
        support=rng.integers(1, 50, count),
    )
    model = {
        "alpha": 1.0,
        "reg": 0.1,
        "rating_reg": 0.16,
        "global_mean": 3.5,
        "bias_reg_user": 5.0,
        "scale_min": 1,
        "scale_max": 5,
        "star_weight": 0.2,
        "activity_reference": 20,
        "activity_exponent": 1.0,
    }
    sizes = [0, 1, 5, 40, 3, 299, *rng.integers(1, 120, 600).tolist()]  # several blocks of different widths
    rows = [rng.choice(count, size, replace=False) for size in sizes]
    ratings = [rng.integers(1, 6, len(row)).astype(float) for row in rows]
    segment = np.repeat(np.arange(len(rows)), [len(row) for row in rows])
    shuffle = rng.permutation(len(segment))  # the ratings need not come grouped by user

    folded = scoring.side_fold_in(
        segment[shuffle], np.concatenate(rows)[shuffle], np.concatenate(ratings)[shuffle], len(rows), side, model
    )

    Y, Q = side.factors.astype(np.float64), side.rating_factors.astype(np.float64)
    for index, (row, stars) in enumerate(zip(rows, ratings, strict=True)):
        n = len(row)
        assert folded.counts[index] == n
        if n == 0:
            assert not folded.factors[index].any() and not folded.rating_factors[index].any()
            assert folded.bias[index] == 0.0  # nothing known: zero vectors, no bias
            continue
        weights = model["alpha"] * scoring.strength(stars, n, model)
        x = np.linalg.solve(
            Y.T @ Y + (Y[row].T * weights) @ Y[row] + model["reg"] * n * np.eye(8), (1 + weights) @ Y[row]
        )
        bias = (stars - 3.5 - side.bias[row]).sum() / (5.0 + n)
        p = np.linalg.solve(Q[row].T @ Q[row] + 0.16 * n * np.eye(5), Q[row].T @ (stars - 3.5 - bias - side.bias[row]))
        np.testing.assert_allclose(folded.factors[index], x, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(folded.rating_factors[index], p, rtol=1e-4, atol=1e-5)
        assert folded.bias[index] == pytest.approx(bias, abs=1e-12)


def test_recommend_keeps_each_users_best_unexcluded_titles_with_stars_and_confidence():
    rng = np.random.default_rng(3)
    side = _side(seed=4, items=40, rank=3)
    folded = scoring.FoldIn(
        factors=rng.normal(size=(300, 3)).astype(np.float32),
        rating_factors=rng.normal(size=(300, 2)).astype(np.float32),
        bias=rng.normal(0, 0.3, 300),
        counts=rng.integers(0, 30, 300),
    )
    excluded = {user: rng.choice(40, rng.integers(0, 38), replace=False) for user in range(300)}
    excluded[7] = np.arange(40)  # everything excluded: an empty list
    segment = np.concatenate([np.full(len(rows), user) for user, rows in excluded.items()])
    shuffle = rng.permutation(len(segment))

    top = scoring.recommend(folded, segment[shuffle], np.concatenate(list(excluded.values()))[shuffle], side, MODEL, 5)

    for user in range(300):
        got = top.rows[top.offsets[user] : top.offsets[user + 1]]
        scores = folded.factors[user] @ side.factors.T + MODEL["popularity_weight"] * side.popularity
        allowed = np.setdiff1d(np.arange(40), excluded[user])
        expected = allowed[np.argsort(-scores[allowed], kind="stable")][:5]
        assert got.tolist() == expected.tolist()
        span = slice(top.offsets[user], top.offsets[user + 1])
        np.testing.assert_allclose(top.scores[span], scores[got], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            top.predicted[span],
            scoring.stars_predict(folded.rating_factors[user], folded.bias[user], got, side, MODEL),
            rtol=1e-5,
        )
        np.testing.assert_allclose(
            top.confidence[span],
            scoring.confidence(side.factors[got] @ folded.factors[user], folded.counts[user], side.support[got], MODEL),
            rtol=1e-4,
            atol=1e-6,
        )
    assert top.offsets[8] - top.offsets[7] == 0
    assert ((top.predicted >= 1) & (top.predicted <= 5)).all() and ((top.confidence >= 0) & (top.confidence <= 1)).all()


def test_similar_titles_never_include_the_title_itself():
    side = _side(seed=5, items=30, rank=4)
    unit = side.factors / np.linalg.norm(side.factors, axis=1, keepdims=True)
    candidates = np.flatnonzero(side.support >= 10)
    best, values, valid = scoring.similar_titles(np.arange(30), side, unit, candidates, 3)
    for row in range(30):
        similarity = unit[candidates] @ unit[row]
        similarity[candidates == row] = -np.inf
        assert candidates[best[row][valid[row]]].tolist() == candidates[np.argsort(-similarity)[:3]].tolist()
        assert row not in candidates[best[row]].tolist()


FACTORS_SCRIPT = """
import json, sys
import numpy as np
from pyspark.ml.recommendation import ALS
from recommender.spark import fit
from recommender.spark.session import session_stop, spark_session_create

spark = spark_session_create(master="local[1]", app_name="imdbrec-test-factors", driver_memory="1g", shuffle_partitions=2)
try:
    rows = [(user, item, float(1 + (user * item) % 5)) for user in range(1, 40) for item in range(3, 30) if (user + item) % 3]
    model = ALS(rank=3, maxIter=3, seed=1, userCol="user", itemCol="item", ratingCol="rating").fit(
        spark.createDataFrame(rows, ["user", "item", "rating"]))
    by_hand = {row["id"]: row["features"] for row in model.userFactors.collect()}
    items_by_hand = {row["id"]: row["features"] for row in model.itemFactors.collect()}
    users = np.array([0, 2, 5, 17, 39, 1000])  # 0 and 1000: not in the model
    items = np.arange(0, 40)
    print(json.dumps({
        "pulled": fit.user_factors_collect(model, users, model_users=39).tolist(),
        "joined": fit.user_factors_collect(model, users, model_users=fit.PULL_ALL_USERS + 1).tolist(),
        "items": fit.factors_collect(model.itemFactors, items, model.rank).tolist(),
        "by_hand": [by_hand.get(int(user), [0.0] * 3) for user in users],
        "items_by_hand": [items_by_hand.get(int(item), [0.0] * 3) for item in items],
    }))
finally:
    session_stop(spark)
"""


@pytest.mark.spark
def test_model_vectors_reach_the_driver_aligned_with_the_ids_whether_pulled_whole_or_joined():
    environment = {**os.environ, "SPARK_CLASS_ARCHIVE": settings.SPARK_CLASS_ARCHIVE}
    done = subprocess.run(
        [sys.executable, "-c", FACTORS_SCRIPT],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert np.allclose(result["pulled"], result["by_hand"]) and np.allclose(result["joined"], result["by_hand"])
    assert np.abs(result["by_hand"][1]).sum() > 0 and result["by_hand"][0] == [0.0] * 3  # a real vector; a zero one
    assert np.allclose(result["items"], result["items_by_hand"])

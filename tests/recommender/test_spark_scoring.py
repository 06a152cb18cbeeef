"""The numpy side of the Spark job (recommender/spark/scoring.py) and its parameters, against the
formulas of recommender/DESIGN.md; and the job's command line refusing bad input before Spark starts."""

import json
import subprocess
import sys

import numpy as np
import pytest
from django.conf import settings

from recommender.spark import scoring
from recommender.spark.params import DEFAULT_GRID, ParamsError, grid_candidates, params_resolve

MODEL = {"scale_min": 1.0, "scale_max": 5.0, "star_weight": 1.0, "activity_reference": 4.0, "activity_exponent": 1.0,
         "alpha": 2.0, "reg": 0.1, "global_mean": 3.5, "bias_reg_user": 5.0, "rating_reg": 0.1,
         "popularity_weight": 0.3, "confidence_user_prior": 10.0, "confidence_title_prior": 10.0}


def _side(seed=1, items=12, rank=3):
    rng = np.random.default_rng(seed)
    return scoring.ItemSide.build(ids=rng.permutation(np.arange(100, 100 + items)), factors=rng.normal(size=(items, rank)),
                                  rating_factors=rng.normal(size=(items, 2)), bias=rng.normal(0, 0.3, items),
                                  support=rng.integers(1, 50, items))


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
        np.clip(MODEL["global_mean"] + bias, 1, 5))  # a title the run does not know: mu + b_u


def test_confidence_is_in_the_unit_interval_and_grows_with_evidence():
    preference = np.array([-3.0, 0.0, 0.2, 0.9, 7.0])
    support = np.array([0, 1, 5, 50, 5000])
    values = scoring.confidence(preference, 30, support, MODEL)
    assert ((values >= 0) & (values <= 1)).all()
    assert values[0] == 0 and values[1] == 0
    assert scoring.confidence(np.array([0.5]), 100, np.array([100]), MODEL)[0] > scoring.confidence(
        np.array([0.5]), 2, np.array([100]), MODEL)[0]


def test_top_rows_orders_and_excludes():
    scores = np.array([[0.1, 0.9, 0.5, 0.7, 0.3], [1.0, 0.0, 0.2, 0.4, 0.6]], dtype=np.float32)
    tops = scoring.top_rows(scores, [np.array([1]), np.array([0, 4, -1])], 3)
    assert tops[0].tolist() == [3, 2, 4]
    assert tops[1].tolist() == [3, 2, 1]
    everything = scoring.top_rows(scores[:1], [np.array([0, 1, 2, 3])], 3)
    assert everything[0].tolist() == [4]  # fewer candidates than asked: no excluded title fills the gap


def test_ranking_metrics():
    precision, ndcg = scoring.ranking_metrics(np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), {1, 3, 99})
    assert precision == pytest.approx(0.2)
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert ndcg == pytest.approx((1 + 1 / np.log2(4)) / ideal)
    assert scoring.ranking_metrics(np.array([5]), {1}) == (0.0, 0.0)


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
    command = [sys.executable, "-m", "recommender.spark.train_als", "--input", str(tmp_path), "--output",
               str(tmp_path / "out"), "--params", json.dumps({"rank": -1})]
    done = subprocess.run(command, capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=60)
    assert done.returncode == 2
    assert "rank must be between 1 and 500" in done.stderr
    assert "RESULT" not in done.stdout
    done = subprocess.run(command[:-2] + ["--params", "{not json"], capture_output=True, text=True,
                          cwd=settings.BASE_DIR, timeout=60)
    assert done.returncode == 2 and "bad --params" in done.stderr


def test_fold_in_batch_solves_the_same_equations_as_one_user_at_a_time():
    rng = np.random.default_rng(0)
    count = 300
    side = scoring.ItemSide.build(ids=np.arange(count), factors=rng.normal(size=(count, 8)),
                                  rating_factors=rng.normal(size=(count, 5)), bias=rng.normal(size=count),
                                  support=rng.integers(1, 50, count))
    model = {"alpha": 1.0, "reg": 0.1, "rating_reg": 0.16, "global_mean": 3.5, "bias_reg_user": 5.0, "scale_min": 1,
             "scale_max": 5, "star_weight": 0.2, "activity_reference": 20, "activity_exponent": 1.0}
    rows = [rng.choice(count, size, replace=False) for size in (0, 1, 5, 40, 3)]
    ratings = [rng.integers(1, 6, len(row)).astype(float) for row in rows]

    vectors, rating_vectors, biases = scoring.fold_in_batch(rows, ratings, side, model)

    for index, (row, stars) in enumerate(zip(rows, ratings, strict=True)):
        rating_vector, bias = scoring.rating_fold_in(row, stars, side, model)
        assert np.allclose(vectors[index], scoring.ranking_fold_in(row, stars, side, model), atol=1e-6)
        assert np.allclose(rating_vectors[index], rating_vector, atol=1e-6)
        assert biases[index] == pytest.approx(bias, abs=1e-12)
    assert not vectors[0].any() and biases[0] == 0.0  # a user with nothing known: zero vector, no bias

"""EASE against a direct computation, the beyond-accuracy metrics on hand-made lists, the time split,
and the baselines scored on a split (numpy only: no Spark)."""

import numpy as np
import pandas as pd
import pytest

from recommender.quality.baselines import baselines_score
from recommender.quality.beyond import beyond_accuracy, ranking_metrics
from recommender.quality.ease import ease_fit, ease_lambda_choose, ease_scores, ease_top
from recommender.quality.evaluation import MovieLensError, SeedsReport, ratings_split
from tests.recommender.test_evaluate import movielens_generate


def ease_direct(matrix: np.ndarray, lam: float) -> np.ndarray:
    """Steck's closed form as written: B = I − P·diagMat(1/diag(P)), P = (XᵀX + λI)⁻¹."""
    inverse = np.linalg.inv(matrix.T @ matrix + lam * np.eye(matrix.shape[1]))
    return np.eye(matrix.shape[1]) - inverse / np.diag(inverse)


@pytest.mark.parametrize("shape", [(30, 12), (8, 25)])  # more users than titles, and fewer
def test_ease_scores_equal_the_closed_form(shape):
    rng = np.random.default_rng(4)
    matrix = (rng.random(shape) < 0.35).astype(float)
    matrix[0, :] = 1.0  # every title rated at least once
    users, items = np.nonzero(matrix)
    model = ease_fit(users, items + 100)
    assert list(model.titles) == list(range(100, 100 + shape[1]))
    for lam in (0.5, 7.0):
        weights = ease_direct(matrix, lam)
        assert np.allclose(np.diag(weights), 0.0)
        np.testing.assert_allclose(ease_scores(model, matrix, lam), matrix @ weights, atol=1e-9)


def test_ease_top_leaves_out_rated_titles_and_keeps_the_most_rated():
    rng = np.random.default_rng(1)
    matrix = (rng.random((20, 10)) < 0.4).astype(float)
    matrix[:, 9] = 0.0
    matrix[0, 9] = 1.0  # title 9 rated once: dropped by a cap of 9 titles
    users, items = np.nonzero(matrix)
    model = ease_fit(users, items, max_titles=9)
    assert 9 not in model.titles and len(model.titles) == 9
    top = ease_top(model, 2.0, users, items, 20, k=3)
    direct = matrix[:, :9] @ ease_direct(matrix[:, :9], 2.0)
    for user in range(20):
        expected = [column for column in np.argsort(-direct[user], kind="stable") if not matrix[user, column]][:3]
        listed = [column for column in top[user] if column >= 0]
        assert not any(matrix[user, column] for column in listed)
        assert np.allclose(direct[user, listed], direct[user, expected])


def test_ease_lambda_is_chosen_on_the_training_pairs_only():
    frame = movielens_generate(users=40, movies=40, per_user=15)
    lam, records = ease_lambda_choose(frame["user"].to_numpy(), frame["item"].to_numpy(), seed=3, lambdas=(1.0, 50.0))
    assert lam in (1.0, 50.0) and [record["lambda"] for record in records] == [1.0, 50.0]
    assert lam == max(records, key=lambda record: record["ndcg_at_10"])["lambda"]


def test_ranking_metrics_on_a_hand_made_list():
    top = np.array([[3, 1, -1], [0, 2, 4]])
    # user 0 held out titles 1 and 7 (7 cannot be listed: row -1); user 1 held out title 4
    precision, ndcg = ranking_metrics(top, np.array([0, 0, 1]), np.array([1, -1, 4]), np.array([2, 1]))
    np.testing.assert_allclose(precision, [1 / 3, 1 / 3])
    discounts = 1 / np.log2(np.arange(2, 5))
    np.testing.assert_allclose(ndcg, [discounts[1] / (discounts[0] + discounts[1]), discounts[2] / discounts[0]])


def test_beyond_accuracy_on_hand_made_lists():
    # 4 training users, 5 titles: who rated what
    ratings = [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1), (1, 1), (2, 2), (3, 3), (0, 4)]
    train_user, train_rows = (np.array(column) for column in zip(*ratings, strict=True))
    top = np.array([[1, 2, -1], [3, 2, 1]])  # lists of users 0 and 1
    metrics = beyond_accuracy(
        top,
        seen_segment=np.array([0, 0, 0, 1, 1]),
        seen_rows=np.array([0, 1, 4, 0, 4]),  # user 0 rated title 1: one already-rated slot of 5
        train_user=train_user,
        train_rows=train_rows,
        titles=5,
    )
    assert metrics["catalog_coverage"] == pytest.approx(3 / 5)
    # shares of users: title 1 2/4, title 2 1/4, title 3 1/4 -> bits 1, 2, 2
    assert metrics["novelty_bits"] == pytest.approx((1 + 2 + 2 + 2 + 1) / 5)
    # co-raters: (1,2) none, (3,2) none, (3,1) none -> every distance 1
    assert metrics["intra_list_diversity"] == pytest.approx(1.0)
    assert metrics["already_rated_share"] == pytest.approx(1 / 5)
    assert metrics["recommended_slots"] == 5

    alike = beyond_accuracy(
        np.array([[0, 1]]),
        seen_segment=np.array([], dtype=int),
        seen_rows=np.array([], dtype=int),
        train_user=train_user,
        train_rows=train_rows,
        titles=5,
    )
    # titles 0 (4 raters) and 1 (2 raters) share 2 raters: cosine 2 / √8
    assert alike["intra_list_diversity"] == pytest.approx(1 - 2 / np.sqrt(8))
    assert alike["already_rated_share"] == 0.0


def test_the_time_split_holds_out_each_users_latest_ratings():
    frame = pd.DataFrame(
        {
            "user": [1] * 10 + [2] * 4,
            "item": list(range(10)) + [1, 2, 3, 4],
            "rating": [4.0] * 14,
            "timestamp": [10, 9, 8, 7, 6, 5, 4, 3, 2, 1] + [1, 4, 2, 3],
        }
    )
    train, test = ratings_split(frame, test_fraction=0.2, seed=0, split="time")
    assert sorted(zip(test.user, test.item, strict=True)) == [(1, 0), (1, 1)]  # user 2: 0.8 of a rating: none
    assert len(train) == 12
    again_train, again_test = ratings_split(frame, test_fraction=0.2, seed=99, split="time")
    assert test.equals(again_test) and train.equals(again_train)  # the seed plays no part
    with pytest.raises(MovieLensError, match="timestamps"):
        ratings_split(frame.assign(timestamp=0), test_fraction=0.2, seed=0, split="time")
    with pytest.raises(MovieLensError, match="--split must be one of"):
        ratings_split(frame, test_fraction=0.2, seed=0, split="sideways")


def test_baselines_are_scored_on_the_same_split():
    frame = movielens_generate(users=40, movies=60, per_user=25)
    train, test = ratings_split(frame, test_fraction=0.25, seed=3)
    scored = baselines_score(train, test, eval_max_users=2000, seed=42)
    for name in ("ease", "popularity"):
        assert 0 <= scored[f"{name}_precision_at_10"] <= 1 and 0 <= scored[f"{name}_ndcg_at_10"] <= 1
        assert scored[f"{name}_already_rated_share"] == 0.0
        assert 0 < scored[f"{name}_catalog_coverage"] <= 1
    # two clean taste groups: EASE ranks far better than most popular, and spreads wider
    assert scored["ease_precision_at_10"] > scored["popularity_precision_at_10"]
    assert scored["ease_catalog_coverage"] > scored["popularity_catalog_coverage"]
    assert scored["ease_lambda"] in [record["lambda"] for record in scored["ease_validation"]]


def test_seeds_report_gives_each_seed_and_mean_and_deviation():
    from recommender.quality.evaluation import EvaluationReport

    def report(seed, precision, split="random"):
        counts = {"seed": seed, "split": split}
        few = {"few_ratings_share": precision / 10, "few_ratings_titles": seed, "few_ratings_users": precision}
        return EvaluationReport(
            {"precision_at_10": precision, "rmse": 0.8, **few},
            counts,
            {},
            {},
            1.0,
            baselines={"ease_precision_at_10": 0.3},
        )

    combined = SeedsReport([report(1, 0.30), report(2, 0.34), report(1, 0.1, "time")])
    summary = combined.summary()
    assert summary["precision_at_10"] == pytest.approx(0.32)
    assert summary["precision_at_10_std"] == pytest.approx(np.std([0.30, 0.34], ddof=1))
    assert summary["ease_precision_at_10"] == pytest.approx(0.3)
    assert summary["splits"]["random"]["seeds"] == [1, 2]
    assert summary["splits"]["time"]["mean"]["precision_at_10"] == pytest.approx(0.1)
    # the titles with few ratings in the top 10s: share of slots and of users, per split
    assert summary["few_ratings_share"] == pytest.approx(0.032)
    assert summary["few_ratings_users"] == pytest.approx(0.32)
    table = combined.table()
    assert "mean" in table and "± sd" in table and "time" in table
    assert "3.20% of the slots, 1.5 distinct titles, 32.0% of the test users" in table


def test_confidence_rises_is_judged_over_the_buckets_holding_recommendations():
    from recommender.spark.evaluation import confidence_rises

    def buckets(*rates):
        return [{"hit_rate": rate} for rate in rates]

    assert confidence_rises(buckets(0.05, 0.2, 0.4)) is True
    assert confidence_rises(buckets(None, 0.07, 0.39)) is True  # no low-confidence title in any top 10
    assert confidence_rises(buckets(0.2, 0.1, 0.4)) is False
    assert confidence_rises(buckets(0.2, 0.2, 0.4)) is False  # level is not rising
    assert confidence_rises(buckets(None, None, 0.4)) is None

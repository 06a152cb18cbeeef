"""Fold-in against a run trained by the real pipeline (Spark ALS through recommender.training)."""

import time

import numpy as np
import pytest
from scipy.stats import spearmanr

from accounts.models import User
from ratings.services import rating_set
from recommender.communities.selectors import community_metrics
from recommender.models import ModelRun, Recommendation, TasteCommunity, UserFactor
from recommender.serving import foldin, ranking, run_model
from tests.recommender import recsys_factories
from tests.recommender.recsys_factories import PERSONAS

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Small and quick: 80 persona users, 120 titles; no holdout evaluation (not what is tested here).
TRAIN = {
    "rank": 8,
    "iterations": 10,
    "rating_rank": 4,
    "rating_iterations": 8,
    "holdout_fraction": 0.0,
    "similar_n": 10,
    "top_n": 30,
    "eval_max_users": 0,
}


def _train() -> ModelRun:
    from recommender.training.pipeline import model_run_train
    from recommender.training.runs import model_run_create

    run = model_run_train(run_id=model_run_create(params=TRAIN, triggered_by="test").pk)
    assert run.status == ModelRun.Status.SUCCEEDED, run.error
    run_model.run_model_forget()
    return run


def test_fold_in_agrees_with_a_full_spark_retrain(recommender_caches, user_factory, settings):
    settings.RECOMMENDER_EXCHANGE_DIR = str(settings.RECOMMENDER_MODEL_CACHE_DIR.parent / "exchange")
    titles = recsys_factories.titles_create()
    recsys_factories.persona_users_create(titles=titles, users_per_persona=20)
    started = time.monotonic()
    first = _train()
    print(f"first training {time.monotonic() - started:.1f} s")

    # The run's own users: the fold-in is the training's last solve, and the page lists its rows.
    model = run_model.run_model_get(run=first)
    member = UserFactor.objects.filter(run=first).first()
    vectors = foldin.user_vectors_solve(model=model, ratings=foldin.user_ratings(user=member.user))
    np.testing.assert_allclose(vectors.factors, member.factors, rtol=2e-3, atol=2e-4)
    live = ranking.recommendation_list_live(user=member.user, limit=30)
    stored = list(
        Recommendation.objects.filter(run=first, user=member.user).order_by("rank").values_list("title_id", flat=True)
    )
    assert [item.tconst for item in live.items[:10]] == stored[:10]
    assert TasteCommunity.objects.filter(run=first).exists()

    # A newcomer rates after the run: folded in at once, then compared with a retrain that knows them.
    newcomer = user_factory(kind=User.Kind.SITE)
    liked = PERSONAS["comedy_fan"]
    mine = [title for title in titles if set(title.genres) & set(liked)]
    others = [title for title in titles if not set(title.genres) & set(liked)]
    for n, title in enumerate(mine[:10]):
        rating_set(user=newcomer, title=title, score=5 if n % 3 else 4)
    for title in others[:3]:
        rating_set(user=newcomer, title=title, score=2)
    live = ranking.recommendation_list_live(user=newcomer)
    folded = [item.tconst for item in live.items[:10]]
    assert len(folded) == 10
    unrated = [tconst for tconst in live.model.tconsts if tconst not in live.excluded]
    folded_scores = ranking.scores_all(model=live.model, vectors=live.state.vectors)
    folded_scores = {tconst: folded_scores[live.model.index[tconst]] for tconst in unrated}

    second = _train()
    assert UserFactor.objects.filter(run=second, user=newcomer).exists()
    full = list(
        Recommendation.objects.filter(run=second, user=newcomer)
        .order_by("rank")
        .values_list("title_id", flat=True)[:10]
    )
    overlap = len(set(folded) & set(full))
    model = run_model.run_model_get(run=second)
    retrained = ranking.scores_all(
        model=model,
        vectors=foldin.UserVectors(
            factors=np.asarray(UserFactor.objects.get(run=second, user=newcomer).factors),
            rating_factors=None,
            bias=0.0,
            known_ratings=13,
            source="run",
        ),
    )
    common = [tconst for tconst in unrated if tconst in model.index]
    rho = spearmanr([folded_scores[t] for t in common], [retrained[model.index[t]] for t in common]).statistic
    print(f"top-10 overlap fold-in vs retrain: {overlap}/10, Spearman of all {len(common)} scores {rho:.3f}")
    # Thresholds: at least 5 of the top 10 in common (measured 6-8 over runs; a random 10 of the ~107
    # unrated titles would share about 1), and the two orders of every unrated title agree (rho >= 0.7).
    assert overlap >= 5, (overlap, folded, full)
    assert rho >= 0.7, rho
    # Every user of the new run has a community, and the run records how well they match personas.
    assert not UserFactor.objects.filter(run=second, community__isnull=True).exists()
    second.refresh_from_db()
    metrics = community_metrics(run=second)
    assert metrics["community_ari"] is not None and metrics["community_ari_users"] == 80
    assert metrics["community_projection"]

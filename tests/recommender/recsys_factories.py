"""Test data for the recommendations experience: titles, persona users and a trained run.

``numpy_run_train`` fits the two models of ``recommender/DESIGN.md`` (implicit ALS for ranking,
biased explicit ALS for stars) with the same equations as the Spark job, in numpy, on a few
hundred ratings, and writes a complete active run (factors, recommendations, similar titles). It
lets page and fold-in tests run in milliseconds; the agreement with the real Spark pipeline is
tested separately (``test_foldin_spark.py``).
"""

from __future__ import annotations

import itertools

import numpy as np
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from catalog.models import Title
from ratings.models import Rating
from recommender.models import ModelRun, Recommendation, SimilarTitle, TitleFactor, UserFactor
from tests.factories import title_build

PERSONAS = {
    "action_fan": ["Action", "Adventure", "Thriller"],
    "drama_lover": ["Drama", "Romance", "Biography"],
    "comedy_fan": ["Comedy", "Family", "Animation"],
    "scifi_geek": ["Sci-Fi", "Fantasy", "Horror"],
}

DEFAULT_MODEL = {
    "scale_min": 1,
    "scale_max": 5,
    "rank": 8,
    "reg": 0.05,
    "alpha": 4.0,
    "star_weight": 1.0,
    "activity_exponent": 0.5,
    "popularity_weight": 0.0,
    "rating_rank": 4,
    "rating_reg": 0.1,
    "bias_reg_user": 3.0,
    "bias_reg_title": 3.0,
    "bias_sweeps": 3,
    "confidence_user_prior": 5.0,
    "confidence_title_prior": 5.0,
    "confidence_exponent": 0.5,
}


def titles_create(*, per_genre: int = 12, seed: int = 1) -> list[Title]:
    """``per_genre`` titles for each persona genre, with IMDb-like ratings, votes, years and types."""
    rng = np.random.default_rng(seed)
    titles = []
    number = 9_000_000
    genres = sorted({genre for persona in PERSONAS.values() for genre in persona})
    for genre in genres:
        for n in range(per_genre):
            number += 1
            other = genres[(genres.index(genre) + n + 1) % len(genres)] if n % 3 == 0 else None
            titles.append(
                title_build(
                    f"tt{number}",
                    title_type="movie" if n % 5 else "tvSeries",
                    primary_title=f"{genre} Story {n + 1}",
                    start_year=1950 + (n * 7) % 60,
                    genres=[genre] + ([other] if other and other != genre else []),
                    average_rating=round(float(rng.uniform(5.5, 8.8)), 1),
                    num_votes=int(rng.integers(2_000, 400_000)),
                )
            )
    return Title.objects.bulk_create(titles)


def persona_users_create(
    *, titles: list[Title], users_per_persona: int = 10, ratings_per_user: int = 14, seed: int = 2
) -> list[User]:
    """Synthetic users who rate mostly titles of their persona's genres, high, and a few others, low."""
    rng = np.random.default_rng(seed)
    users, ratings = [], []
    for persona, liked in PERSONAS.items():
        mine = [title for title in titles if set(title.genres) & set(liked)]
        others = [title for title in titles if not set(title.genres) & set(liked)]
        for n in range(users_per_persona):
            user = User(
                username=f"{persona}-{n}-{seed}",
                kind=User.Kind.SYNTHETIC,
                persona=persona,
                external_id=f"test-{seed}-{persona}-{n}",
            )
            user.set_unusable_password()
            users.append(user)
    User.objects.bulk_create(users)
    for user in users:
        liked = PERSONAS[user.persona]
        mine = [title for title in titles if set(title.genres) & set(liked)]
        others = [title for title in titles if not set(title.genres) & set(liked)]
        count_mine = min(len(mine), ratings_per_user - 3)
        for title in rng.choice(mine, size=count_mine, replace=False):
            ratings.append(Rating(user=user, title=title, score=int(rng.choice([4, 5, 5]))))
        for title in rng.choice(others, size=3, replace=False):
            ratings.append(Rating(user=user, title=title, score=int(rng.choice([1, 2, 3]))))
    Rating.objects.bulk_create(ratings)
    return users


def _solve_rows(gram, fixed, rows, reg):
    """One half-step of implicit ALS: each row solved with the other side fixed (alpha·w given)."""
    out = np.zeros((len(rows), fixed.shape[1]))
    for n, (positions, weights) in enumerate(rows):
        if len(positions) == 0:
            continue
        matrix = gram + (fixed[positions].T * weights) @ fixed[positions]
        matrix[np.diag_indices_from(matrix)] += reg * len(positions)
        out[n] = np.linalg.solve(matrix, fixed[positions].T @ (1 + weights))
    return out


def numpy_run_train(*, model: dict | None = None, iterations: int = 12, seed: int = 3, top_n: int = 50) -> ModelRun:
    """Fit both models on every rating in the database and write an active, succeeded run."""
    params = {**DEFAULT_MODEL, **(model or {})}
    rng = np.random.default_rng(seed)
    triples = list(Rating.objects.values_list("user_id", "title_id", "score"))
    user_ids = sorted({user for user, _, _ in triples})
    tconsts = sorted({tconst for _, tconst, _ in triples})
    user_index = {user: n for n, user in enumerate(user_ids)}
    title_index = {tconst: n for n, tconst in enumerate(tconsts)}
    users = np.array([user_index[user] for user, _, _ in triples])
    items = np.array([title_index[tconst] for _, tconst, _ in triples])
    scores = np.array([score for _, _, score in triples], dtype=float)
    span = params["scale_max"] - params["scale_min"]

    counts = np.bincount(users, minlength=len(user_ids))
    params["activity_reference"] = float(np.median(counts))
    # w_ui of DESIGN.md: stars lift it, heavy raters' single ratings weigh less.
    weights = (
        params["alpha"]
        * (1 + params["star_weight"] * (scores - params["scale_min"]) / span)
        * (params["activity_reference"] / np.maximum(counts[users], 1)) ** params["activity_exponent"]
    )

    order = np.argsort(users, kind="stable")
    rows_of_user = np.split(order, np.cumsum(np.bincount(users, minlength=len(user_ids)))[:-1])
    order = np.argsort(items, kind="stable")
    rows_of_title = np.split(order, np.cumsum(np.bincount(items, minlength=len(tconsts)))[:-1])
    by_user = [(items[rows], weights[rows]) for rows in rows_of_user]
    by_title = [(users[rows], weights[rows]) for rows in rows_of_title]
    rank = params["rank"]
    X = rng.normal(0, 0.1, (len(user_ids), rank))
    Y = rng.normal(0, 0.1, (len(tconsts), rank))
    for _ in range(iterations):
        Y = _solve_rows(X.T @ X, X, by_title, params["reg"])
        X = _solve_rows(Y.T @ Y, Y, by_user, params["reg"])

    mean = float(scores.mean())
    user_bias = np.zeros(len(user_ids))
    title_bias = np.zeros(len(tconsts))
    for _ in range(params["bias_sweeps"]):
        for i, rows in enumerate(rows_of_title):
            title_bias[i] = (scores[rows] - mean - user_bias[users[rows]]).sum() / (
                params["bias_reg_title"] + len(rows)
            )
        for u, rows in enumerate(rows_of_user):
            user_bias[u] = (scores[rows] - mean - title_bias[items[rows]]).sum() / (params["bias_reg_user"] + len(rows))
    residual = scores - mean - user_bias[users] - title_bias[items]
    rating_rank = params["rating_rank"]
    P = rng.normal(0, 0.1, (len(user_ids), rating_rank))
    Q = rng.normal(0, 0.1, (len(tconsts), rating_rank))
    for _ in range(iterations):
        for i, rows in enumerate(rows_of_title):
            m = P[users[rows]].T @ P[users[rows]] + params["rating_reg"] * len(rows) * np.eye(rating_rank)
            Q[i] = np.linalg.solve(m, P[users[rows]].T @ residual[rows])
        for u, rows in enumerate(rows_of_user):
            m = Q[items[rows]].T @ Q[items[rows]] + params["rating_reg"] * len(rows) * np.eye(rating_rank)
            P[u] = np.linalg.solve(m, Q[items[rows]].T @ residual[rows])

    support = np.bincount(items, minlength=len(tconsts))
    params.update({"global_mean": mean, "max_support": int(support.max())})
    with transaction.atomic():
        ModelRun.objects.filter(is_active=True).update(is_active=False)
        now = timezone.now()
        run = ModelRun.objects.create(
            status=ModelRun.Status.SUCCEEDED,
            is_active=True,
            params={"model": params, "top_n": top_n},
            started_at=now,
            finished_at=now,
            num_users=len(user_ids),
            num_titles=len(tconsts),
            num_ratings=len(triples),
            metrics={"rmse": 0.9, "precision_at_10": 0.2, "popularity_precision_at_10": 0.15},
            triggered_by="test",
        )
        TitleFactor.objects.bulk_create(
            TitleFactor(
                run=run,
                title_id=tconst,
                factors=list(Y[i]),
                rating_factors=list(Q[i]),
                bias=float(title_bias[i]),
                support=int(support[i]),
            )
            for i, tconst in enumerate(tconsts)
        )
        UserFactor.objects.bulk_create(
            UserFactor(run=run, user_id=user, factors=list(X[u]), rating_factors=list(P[u]), bias=float(user_bias[u]))
            for u, user in enumerate(user_ids)
        )
        popularity = params["popularity_weight"] * np.log1p(support) / np.log1p(support.max())
        recommendations = []
        for u, user in enumerate(user_ids):
            score = Y @ X[u] + popularity
            rated = set(by_user[u][0].tolist())
            order = [i for i in np.lexsort((np.array(tconsts), -score)) if i not in rated][:top_n]
            for position, i in enumerate(order, start=1):
                predicted = float(np.clip(mean + user_bias[u] + title_bias[i] + P[u] @ Q[i], 1, 5))
                n_u = len(by_user[u][0])
                confidence = float(
                    (
                        np.clip(Y[i] @ X[u], 0, 1)
                        * n_u
                        / (n_u + params["confidence_user_prior"])
                        * support[i]
                        / (support[i] + params["confidence_title_prior"])
                    )
                    ** params["confidence_exponent"]
                )
                recommendations.append(
                    Recommendation(
                        run=run,
                        user_id=user,
                        title_id=tconsts[i],
                        rank=position,
                        score=float(score[i]),
                        predicted_rating=predicted,
                        confidence=confidence,
                    )
                )
        Recommendation.objects.bulk_create(recommendations)
        normed = Y / np.maximum(np.linalg.norm(Y, axis=1, keepdims=True), 1e-12)
        similar = []
        for i, tconst in enumerate(tconsts):
            cosine = normed @ normed[i]
            cosine[i] = -np.inf
            for position, j in enumerate(itertools.islice(np.argsort(-cosine), 10), start=1):
                similar.append(
                    SimilarTitle(run=run, title_id=tconst, similar_id=tconsts[j], rank=position, score=float(cosine[j]))
                )
        SimilarTitle.objects.bulk_create(similar)
    from recommender.serving.run_model import run_model_forget

    run_model_forget()
    return run


# --- fixtures (import them into a test module to use them) -----------------------------------

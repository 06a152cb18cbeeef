"""Training runs through the real pipeline: Postgres COPY export, the Spark job (local[1]), COPY
write-back and the atomic switch; failures injected in the job and in the database."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F

from accounts.models import User
from catalog.models import Title
from imdbrec.queueing import exclusive
from ratings.models import NotInterested, Rating, WatchlistItem
from recommender.models import ModelRun, Recommendation, SimilarTitle, TitleFactor, UserFactor
from recommender.selectors import model_run_current, recommendation_list_for_user
from recommender.training.export import exchange_directory
from recommender.training.pipeline import model_run_train
from recommender.training.runs import TRAIN_EXCLUSIVE, model_run_active, model_run_create, model_run_start

GENRES = ("Action", "Comedy", "Drama", "Horror")
# Tiny and quick on local[1]; a holdout so the run's own evaluation runs too.
TEST_PARAMS = {
    "rank": 4,
    "iterations": 5,
    "rating_rank": 3,
    "rating_iterations": 5,
    "bias_sweeps": 2,
    "holdout_fraction": 0.2,
    "holdout_min_user_ratings": 5,
    "top_n": 10,
    "similar_n": 5,
    "checkpoint_interval": 2,
}


def world_create(*, titles_per_genre: int = 8, users_per_genre: int = 4, seed: int = 7) -> dict:
    """Titles in four genres; users who rate their genre high and two other titles low; one user
    with a single rating; watchlist and "not interested" marks; one title nobody rated."""
    rng = np.random.default_rng(seed)
    titles = {
        genre: [
            Title.objects.create(
                tconst=f"tt{8_100_000 + index * 100 + n:07d}",
                title_type="movie",
                primary_title=f"{genre} {n}",
                genres=[genre],
                start_year=1990 + n,
                num_votes=1000 * (n + 1),
            )
            for n in range(titles_per_genre)
        ]
        for index, genre in enumerate(GENRES)
    }
    everything = [title for group in titles.values() for title in group]
    unrated = Title.objects.create(tconst="tt8199999", title_type="movie", primary_title="Nobody's", genres=["Drama"])
    users = []
    for genre in GENRES:
        for n in range(users_per_genre):
            user = User.objects.create(
                username=f"{genre.lower()}-{n}",
                kind=User.Kind.SYNTHETIC,
                persona=genre,
                external_id=f"training-test-{genre}-{n}",
            )
            users.append(user)
            liked = rng.choice(titles[genre], size=titles_per_genre - 2, replace=False)
            others = [title for title in everything if genre not in title.genres]
            disliked = rng.choice(others, size=2, replace=False)
            Rating.objects.bulk_create(
                [Rating(user=user, title=title, score=int(rng.choice([4, 5]))) for title in liked]
                + [Rating(user=user, title=title, score=int(rng.choice([1, 2]))) for title in disliked]
            )
    single = User.objects.create(username="single", kind=User.Kind.SITE)
    Rating.objects.create(user=single, title=titles["Comedy"][0], score=5)
    marked = users[0]
    rated = set(Rating.objects.filter(user=marked).values_list("title_id", flat=True))
    unrated_by_marked = [title for title in everything if title.tconst not in rated]
    WatchlistItem.objects.create(user=marked, title=unrated_by_marked[0])
    NotInterested.objects.create(user=marked, title=unrated_by_marked[1])
    return {"titles": titles, "users": users + [single], "single": single, "marked": marked, "unrated": unrated}


def run_rows(run: ModelRun) -> dict:
    return {
        model.__name__: model.objects.filter(run=run).count()
        for model in (Recommendation, UserFactor, TitleFactor, SimilarTitle)
    }


def run_tables(run: ModelRun) -> list[str]:
    """The run's own tables of recommendations and similar titles, attached or not."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname IN (%s, %s)",
            [f"recommender_recommendation_run{run.pk}", f"recommender_similartitle_run{run.pk}"],
        )
        return sorted(row[0] for row in cursor.fetchall())


@contextlib.contextmanager
def _sql_installed(create: list[str], drop: list[str]):
    """A failure injected with SQL (``create``) for the block, undone (``drop``) whatever happens."""
    with connection.cursor() as cursor:
        for statement in create:
            cursor.execute(statement)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for statement in drop:
                cursor.execute(statement)


def _train(**params) -> ModelRun:
    return model_run_train(run_id=model_run_create(params={**TEST_PARAMS, **params}, triggered_by="test").pk)


def _assert_run_complete(run: ModelRun) -> None:
    raters = set(Rating.objects.values_list("user_id", flat=True).distinct())
    assert set(UserFactor.objects.filter(run=run).values_list("user_id", flat=True)) == raters
    assert set(Recommendation.objects.filter(run=run).values_list("user_id", flat=True).distinct()) == raters
    rated_titles = set(Rating.objects.values_list("title_id", flat=True).distinct())
    assert set(TitleFactor.objects.filter(run=run).values_list("title_id", flat=True)) == rated_titles

    for user_id in raters:
        excluded = (
            set(Rating.objects.filter(user_id=user_id).values_list("title_id", flat=True))
            | set(WatchlistItem.objects.filter(user_id=user_id).values_list("title_id", flat=True))
            | set(NotInterested.objects.filter(user_id=user_id).values_list("title_id", flat=True))
        )
        rows = list(Recommendation.objects.filter(run=run, user_id=user_id).order_by("rank"))
        assert [row.rank for row in rows] == list(range(1, len(rows) + 1))
        assert len(rows) == min(TEST_PARAMS["top_n"], len(rated_titles - excluded))
        assert not {row.title_id for row in rows} & excluded, f"user {user_id} got a title they rated or marked"
        assert {row.title_id for row in rows} <= rated_titles
        scores = [row.score for row in rows]
        assert scores == sorted(scores, reverse=True)
        for row in rows:
            assert 1.0 <= row.predicted_rating <= 5.0
            assert 0.0 <= row.confidence <= 1.0
            assert math.isfinite(row.score)


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_a_run_serves_complete_rows_and_a_failed_run_changes_nothing(settings, tmp_path):
    settings.RECOMMENDER_EXCHANGE_DIR = str(tmp_path / "exchange")
    world = world_create()

    first = _train()

    assert first.status == ModelRun.Status.SUCCEEDED, first.error
    assert first.is_active and model_run_current() == first
    _assert_run_complete(first)
    marked = world["marked"]
    marked_titles = set(Recommendation.objects.filter(run=first, user=marked).values_list("title_id", flat=True))
    assert not marked_titles & set(WatchlistItem.objects.filter(user=marked).values_list("title_id", flat=True))
    assert not marked_titles & set(NotInterested.objects.filter(user=marked).values_list("title_id", flat=True))
    assert recommendation_list_for_user(user=world["single"]).count() == TEST_PARAMS["top_n"]
    assert not TitleFactor.objects.filter(run=first, title=world["unrated"]).exists()
    # Training support is what the model saw: all ratings minus the holdout.
    supports = sum(TitleFactor.objects.filter(run=first).values_list("support", flat=True))
    assert supports == first.num_ratings - first.metrics["eval_pairs"] > 0
    similar = SimilarTitle.objects.filter(run=first)
    assert similar.exists() and not similar.filter(title_id=F("similar_id")).exists()
    assert (first.num_users, first.num_titles, first.num_ratings) == (
        len(world["users"]),
        len(set(Rating.objects.values_list("title_id", flat=True))),
        Rating.objects.count(),
    )
    for key in ("rmse", "mae", "precision_at_10", "ndcg_at_10", "popularity_precision_at_10", "popularity_ndcg_at_10"):
        assert 0 <= first.metrics[key] < 5, key
    # every run measures its top 10s beyond accuracy (shown on the staff models page)
    assert first.metrics["already_rated_share"] == 0.0
    assert 0 < first.metrics["catalog_coverage"] <= 1 and first.metrics["novelty_bits"] >= 0
    assert 0 <= first.metrics["intra_list_diversity"] <= 1
    assert first.metrics["confidence_rises"] in (True, False, None)
    assert {"export", "fit", "evaluate", "write_back", "total"} <= set(first.timings)
    model = first.params["model"]
    assert 1 <= model["global_mean"] <= 5 and model["rank"] == TEST_PARAMS["rank"]
    assert first.params["requested"]["rank"] == TEST_PARAMS["rank"]
    assert not exchange_directory(first).exists()  # the exchanged files of a finished run are removed
    counts = run_rows(first)

    # The switch fails after every row of the second run was written: nothing of it remains.
    refuse_activation = (  # noqa: S608 - a test's own integer
        f"""
        CREATE FUNCTION test_refuse_activation() RETURNS trigger AS $$
        BEGIN
            IF NEW.is_active AND NOT OLD.is_active AND NEW.id <> {first.pk:d} THEN
                RAISE EXCEPTION 'injected failure: activation refused';
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql"""
    )
    with _sql_installed(
        [
            refuse_activation,
            "CREATE TRIGGER test_refuse_activation BEFORE UPDATE ON "
            "recommender_modelrun FOR EACH ROW EXECUTE FUNCTION test_refuse_activation()",
        ],
        ["DROP TRIGGER test_refuse_activation ON recommender_modelrun", "DROP FUNCTION test_refuse_activation()"],
    ):
        second = _train()
    assert second.status == ModelRun.Status.FAILED
    assert "activation refused" in second.error
    assert not second.is_active
    assert run_rows(second) == dict.fromkeys(counts, 0) and run_tables(second) == []
    first.refresh_from_db()
    assert first.is_active and model_run_current() == first and run_rows(first) == counts
    assert run_tables(first) == [f"recommender_recommendation_run{first.pk}", f"recommender_similartitle_run{first.pk}"]

    # The recommendations' load (a connection of its own, beside the communities) fails once its
    # rows are in, while it builds the indexes: same outcome.
    with _sql_installed(
        [
            "CREATE FUNCTION test_refuse_index() RETURNS event_trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'injected failure: no index'; END $$ LANGUAGE plpgsql",
            "CREATE EVENT TRIGGER test_refuse_index ON ddl_command_end WHEN TAG IN ('CREATE INDEX') "
            "EXECUTE FUNCTION test_refuse_index()",
        ],
        ["DROP EVENT TRIGGER test_refuse_index", "DROP FUNCTION test_refuse_index()"],
    ):
        refused = _train()
    assert refused.status == ModelRun.Status.FAILED and "no index" in refused.error, refused.error
    assert run_rows(refused) == dict.fromkeys(counts, 0) and run_tables(refused) == []
    assert model_run_current() == first and run_rows(first) == counts

    # The Spark job itself fails (an unusable master): same outcome, with Spark's reason.
    settings.SPARK_MASTER = "local[not-a-number]"
    third = _train()
    assert third.status == ModelRun.Status.FAILED
    assert "Spark job failed" in third.error and "local[not-a-number]" in third.error, third.error
    assert Path(third.artifact_uri, "spark.log").exists()  # kept to look at
    assert run_rows(third) == dict.fromkeys(counts, 0)
    assert model_run_current() == first and run_rows(first) == counts
    assert ModelRun.objects.filter(is_active=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_training_at_a_time(settings, tmp_path):
    """The lock is a Postgres advisory lock on its own connection; here the test holds it, as a
    training in another process would."""
    settings.RECOMMENDER_EXCHANGE_DIR = str(tmp_path / "exchange")
    world_create(titles_per_genre=3, users_per_genre=1)
    holder = ModelRun.objects.create(status=ModelRun.Status.RUNNING, triggered_by="elsewhere")
    with exclusive(TRAIN_EXCLUSIVE):
        refused = model_run_train(run_id=model_run_create(params=TEST_PARAMS).pk)
        assert refused.status == ModelRun.Status.FAILED
        assert f"another training (run #{holder.pk}) is running" in refused.error
        assert model_run_active() == holder  # its process holds the lock: it is alive
        with pytest.raises(ValidationError, match=f"training run #{holder.pk} is running"):
            model_run_start(params=TEST_PARAMS)
        with pytest.raises(CommandError, match="another training"):
            call_command("train_recommender", "--params", '{"rank": 4}', verbosity=0)
    assert ModelRun.objects.get(pk=holder.pk).status == ModelRun.Status.RUNNING
    # Nobody holds the lock any more: the "running" run belongs to a dead process.
    assert model_run_active() is None
    holder.refresh_from_db()
    assert holder.status == ModelRun.Status.FAILED and "process training it ended" in holder.error


@pytest.mark.django_db(transaction=True)
def test_a_dead_run_is_failed_by_the_next_training_and_no_ratings_is_an_error(settings, tmp_path):
    settings.RECOMMENDER_EXCHANGE_DIR = str(tmp_path / "exchange")
    dead = ModelRun.objects.create(status=ModelRun.Status.RUNNING)
    UserFactor.objects.create(run=dead, user_id=1, factors=[0.1])  # a half-written row of a killed worker

    run = model_run_train(run_id=model_run_create().pk)

    dead.refresh_from_db()
    assert dead.status == ModelRun.Status.FAILED and not UserFactor.objects.filter(run=dead).exists()
    assert run.status == ModelRun.Status.FAILED
    assert run.error.startswith("there are no ratings to learn from")
    assert run.timings == {} and model_run_current() is None
    # Finished runs are left alone: a redelivered task does nothing.
    assert model_run_train(run_id=run.pk).status == ModelRun.Status.FAILED


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params, message",
    [
        ({"rank": 0}, "rank must be between 1 and 500"),
        ({"reg": "a lot"}, "reg must be a number"),
        ({"iterations": 2.5}, "iterations must be a whole number"),
        ({"ranks": 10}, "unknown parameter 'ranks'"),
        ({"grid": {"rank": []}}, "grid values of rank must be a non-empty list"),
        ({"grid": {"top_n": [1, 2]}}, "grid parameter 'top_n' is not a model parameter"),
        ({"scale_min": 5, "scale_max": 1}, "scale_max must be above scale_min"),
    ],
)
def test_bad_parameters_are_refused_before_anything_is_written(params, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        model_run_create(params=params)
    assert not ModelRun.objects.exists()
    with pytest.raises(CommandError, match="Bad training parameter"):
        call_command("train_recommender", "--params", json.dumps(params), verbosity=0)
    assert not ModelRun.objects.exists()


@pytest.mark.django_db
def test_train_recommender_dry_run_validates_and_writes_nothing(capsys):
    call_command("train_recommender", "--rank", "16", "--grid", "--dry-run")
    output = capsys.readouterr().out
    assert "Would train on 0 ratings" in output and '"rank": 16' in output and '"rating_rank": [' in output
    assert not ModelRun.objects.exists()

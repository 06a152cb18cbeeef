"""The recommender's panel on the staff system page and its endpoints (staff only, POST with CSRF),
and the admin of model runs."""

import re

import pytest
from django.test import Client

from recommender.models import ModelRun

pytestmark = pytest.mark.django_db


def _token(client, url="/system/"):
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(url).content.decode()).group(1)


def test_panel_shows_runs_and_the_train_button(staff_user):
    served = ModelRun.objects.create(
        status="succeeded",
        is_active=True,
        num_ratings=1234,
        num_users=10,
        num_titles=20,
        metrics={
            "precision_at_10": 0.31,
            "popularity_precision_at_10": 0.15,
            "rmse": 0.85,
            "mae": 0.66,
            "ndcg_at_10": 0.36,
            "popularity_ndcg_at_10": 0.18,
            "eval_pairs": 50,
            "eval_users": 9,
        },
        timings={"export": 0.4, "fit": 12.5, "evaluate": 1.25, "write_back": 0.5, "total": 20.0},
    )
    failed = ModelRun.objects.create(status="failed", error="the Spark job failed (exit status 1): boom")
    running = ModelRun.objects.create(
        status="running", phase="spark: ranking model", progress=0.42, params={"requested": {"rank": 8}}
    )
    client = Client()
    client.force_login(staff_user)
    page = client.get("/system/").content.decode()
    assert 'id="recommender"' in page and "Train now" in page
    assert f'data-progress-url="/system/recommender/train/{running.pk}/progress/"' in page
    assert "rank=8" in page and "spark: ranking model" in page
    assert "boom" in page and f"#{failed.pk}" in page
    assert "0.310" in page and "0.150" in page and "12.5" in page  # metrics against popular, timings
    assert "Precision@10 is <strong>2.1×</strong> that of the most popular list" in page  # 0.31 / 0.15
    assert f'#{served.pk}</a> <span class="badge badge-ok">serving</span>' in page
    assert 'disabled title="A training is already queued or running"' in page

    progress = client.get(f"/system/recommender/train/{running.pk}/progress/").json()
    assert progress["done"] is False and progress["progress"] == 0.42 and "spark: ranking model" in progress["message"]
    done = client.get(f"/system/recommender/train/{served.pk}/progress/").json()
    assert done["done"] is True and done["progress"] == 1.0 and "precision@10 0.310" in done["message"]
    failed_progress = client.get(f"/system/recommender/train/{failed.pk}/progress/").json()
    assert failed_progress["message"] == "Failed: the Spark job failed (exit status 1): boom"
    assert client.get("/system/recommender/train/999999/progress/").status_code == 404


def test_train_now_queues_one_run_and_refuses_a_second(staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    token = _token(client)
    response = client.post(
        "/system/recommender/train/",
        {"csrfmiddlewaretoken": token, "rank": "16", "reg": "0.05", "grid": "1"},
        follow=True,
    )
    run = ModelRun.objects.get()
    assert run.status == ModelRun.Status.QUEUED
    assert run.params["requested"] == {"rank": 16, "reg": 0.05, "grid": True}
    assert run.triggered_by == "staff:staff"
    assert f"Training run #{run.pk} queued." in response.content.decode()

    response = client.post("/system/recommender/train/", {"csrfmiddlewaretoken": token}, follow=True)
    assert f"Training not started: training run #{run.pk} is queued" in response.content.decode()
    assert ModelRun.objects.count() == 1

    response = client.post("/system/recommender/train/", {"csrfmiddlewaretoken": token, "rank": "lots"}, follow=True)
    assert "rank must be a whole number" in response.content.decode()
    assert ModelRun.objects.count() == 1


def test_only_staff_and_only_post_with_csrf(user_factory, staff_user):
    anonymous = Client()
    assert anonymous.post("/system/recommender/train/").status_code == 302  # to the login page
    user = user_factory()
    client = Client()
    client.force_login(user)
    assert client.post("/system/recommender/train/").status_code == 403
    run = ModelRun.objects.create()
    assert client.get(f"/system/recommender/train/{run.pk}/progress/").status_code == 403
    staff = Client(enforce_csrf_checks=True)
    staff.force_login(staff_user)
    assert staff.get("/system/recommender/train/").status_code == 405
    assert staff.post("/system/recommender/train/").status_code == 403  # no CSRF token
    assert ModelRun.objects.count() == 1


def test_admin_lists_runs_by_status_and_shows_their_metrics(staff_user):
    succeeded = ModelRun.objects.create(
        status="succeeded",
        metrics={"rmse": 0.8512, "precision_at_10": 0.3021},
        candidates=[{"kind": "ranking", "params": {"rank": 32}, "metrics": {}}],
    )
    ModelRun.objects.create(status="failed", error="broken")
    client = Client()
    client.force_login(staff_user)
    listing = client.get("/admin/recommender/modelrun/?status__exact=succeeded").content.decode()
    assert "0.8512" in listing and "0.3021" in listing and "broken" not in listing
    detail = client.get(f"/admin/recommender/modelrun/{succeeded.pk}/change/").content.decode()
    assert "&quot;rank&quot;: 32" in detail
    for model in ("recommendation", "userfactor", "titlefactor", "similartitle", "tastecommunity", "userfoldin"):
        assert client.get(f"/admin/recommender/{model}/").status_code == 200, model


def test_retraining_after_new_ratings_queues_one_run(settings, user_factory):
    from django.core.cache import cache

    from recommender.training.retrain import RETRAIN_COUNTER_KEY, recommendation_mark_stale

    user = user_factory()
    cache.delete(RETRAIN_COUNTER_KEY)
    settings.RECOMMENDER_RETRAIN_AFTER_RATINGS = 0
    recommendation_mark_stale(user=user)
    assert cache.get(RETRAIN_COUNTER_KEY) is None  # off by default: nothing counted
    settings.RECOMMENDER_RETRAIN_AFTER_RATINGS = 3
    for _ in range(2):
        recommendation_mark_stale(user=user)
    assert not ModelRun.objects.exists()
    recommendation_mark_stale(user=user)
    run = ModelRun.objects.get()
    assert run.status == ModelRun.Status.QUEUED and run.triggered_by == "retrain-after-ratings"
    for _ in range(3):  # a training is already queued: no second run
        recommendation_mark_stale(user=user)
    assert ModelRun.objects.count() == 1
    cache.delete(RETRAIN_COUNTER_KEY)


def test_the_scheduled_task_skips_while_a_training_is_queued():
    from recommender.tasks import TRAIN_SOFT_TIME_LIMIT, TRAIN_TIME_LIMIT, model_run_train_task

    queued = ModelRun.objects.create()
    assert model_run_train_task.run() == {"run": None, "status": "skipped: a training is already queued or running"}
    assert list(ModelRun.objects.all()) == [queued]
    assert (
        model_run_train_task.soft_time_limit
        == TRAIN_SOFT_TIME_LIMIT
        < model_run_train_task.time_limit
        == TRAIN_TIME_LIMIT
    )
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULE["recommender-train-nightly"]["task"] == model_run_train_task.name


def test_cleanup_keeps_the_served_and_previous_runs_rows(settings, tmp_path):
    from recommender.models import TitleFactor
    from recommender.training.export import exchange_directory
    from recommender.training.runs import model_run_cleanup

    settings.RECOMMENDER_EXCHANGE_DIR = str(tmp_path)
    runs = [ModelRun.objects.create(status="succeeded") for _ in range(3)]
    failed = ModelRun.objects.create(status="failed")
    running = ModelRun.objects.create(status="running")
    ModelRun.objects.filter(pk=runs[2].pk).update(is_active=True)
    for run in [*runs, failed]:
        TitleFactor.objects.create(run=run, title_id="tt0000001", factors=[0.5])
    for run in (failed, running):
        exchange_directory(run).mkdir(parents=True)

    assert model_run_cleanup(keep=2) == sorted([runs[0].pk, failed.pk])
    assert set(TitleFactor.objects.values_list("run_id", flat=True)) == {runs[1].pk, runs[2].pk}
    assert not exchange_directory(failed).exists() and exchange_directory(running).exists()
    assert ModelRun.objects.count() == 5  # the history stays


def _job_output(directory, *, users: int, titles: int, top_n: int):
    """The three Parquet files a training job writes, with made-up numbers (write-back input)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    def vectors(count, width=3):
        return pa.array([[0.1 * n, -0.2, 0.3][:width] for n in range(count)], type=pa.list_(pa.float32()))

    items = list(range(1, titles + 1))
    for name, table in {
        "titles.parquet": pa.table(
            {
                "item": pa.array(items, pa.int32()),
                "factors": vectors(titles),
                "rating_factors": vectors(titles),
                "bias": pa.array(np.zeros(titles)),
                "support": pa.array([5] * titles, pa.int32()),
            }
        ),
        "users.parquet": pa.table(
            {
                "user": pa.array(range(1, users + 1), pa.int32()),
                "factors": vectors(users),
                "rating_factors": vectors(users),
                "bias": pa.array(np.zeros(users)),
                "num_ratings": pa.array([3] * users, pa.int32()),
                "items": pa.array([items[:top_n]] * users, pa.list_(pa.int32())),
                "scores": pa.array([[1.0 - 0.01 * n for n in range(top_n)]] * users, pa.list_(pa.float32())),
                "predicted": pa.array([[4.0] * top_n] * users, pa.list_(pa.float32())),
                "confidence": pa.array([[0.5] * top_n] * users, pa.list_(pa.float32())),
            }
        ),
        "similar.parquet": pa.table(
            {
                "item": pa.array(items, pa.int32()),
                "similar": pa.array([[i for i in items if i != item][:2] for item in items], pa.list_(pa.int32())),
                "scores": pa.array([[0.9, 0.8]] * titles, pa.list_(pa.float32())),
            }
        ),
    }.items():
        (directory / name).mkdir(parents=True)
        pq.write_table(table, directory / name / "part-00000.parquet")


def _partition_indexes(table: str) -> list[str] | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
        if not cursor.fetchone()[0]:
            return None
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return sorted(row[0].split(" USING ")[1] for row in cursor.fetchall())


def test_write_back_fills_a_partition_per_run_and_cleanup_drops_it(tmp_path, settings):
    """Recommendations and similar titles go into a bare table attached as the run's partition
    (indexes built then); a run's rows become visible through the ORM, and cleanup drops the
    partition of a run it no longer keeps, while rows of a run without one (default partition)
    are deleted."""
    from django.db import transaction

    from recommender.models import Recommendation, SimilarTitle
    from recommender.training.runs import model_run_cleanup
    from recommender.training.write_back import run_rows_write

    settings.RECOMMENDER_EXCHANGE_DIR = str(tmp_path / "exchange")
    old = ModelRun.objects.create(status="succeeded")
    Recommendation.objects.create(
        run=old, user_id=1, title_id="tt0000001", rank=1, score=1.0, predicted_rating=4.0, confidence=0.5
    )  # the ORM: into the default partition
    run = ModelRun.objects.create(status="succeeded", is_active=True)
    _job_output(tmp_path / "out", users=7, titles=6, top_n=4)

    with transaction.atomic():
        counts = run_rows_write(run=run, output_dir=tmp_path / "out")

    assert counts == {"title_factors": 6, "user_factors": 7, "recommendations": 28, "similar_titles": 12}
    assert Recommendation.objects.filter(run=run).count() == 28
    assert list(Recommendation.objects.filter(run=run, user_id=3).order_by("rank").values_list("title_id", "rank")) == [
        (f"tt000000{n}", n) for n in range(1, 5)
    ]
    assert SimilarTitle.objects.filter(run=run, title_id="tt0000002").count() == 2
    partition = f"recommender_recommendation_run{run.pk}"
    assert _partition_indexes(partition) == ["btree (id, run_id)", "btree (run_id, user_id, rank)", "btree (user_id)"]
    assert _partition_indexes(f"recommender_similartitle_run{run.pk}") == [
        "btree (id, run_id)",
        "btree (run_id, title_id, rank)",
    ]
    with pytest.raises(Exception, match="violates check constraint|no partition|violates partition constraint"):
        with transaction.atomic(), connection_cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {partition} (id, run_id, user_id, title_id, rank, score, predicted_rating, "
                "confidence) VALUES (999999, %s, 1, 'tt0000001', 99, 0, 1, 0)",
                [old.pk],
            )

    assert model_run_cleanup(keep=1) == [old.pk]
    assert not Recommendation.objects.filter(run=old).exists()
    assert Recommendation.objects.filter(run=run).count() == 28
    ModelRun.objects.filter(pk=run.pk).update(is_active=False, status="failed")
    assert model_run_cleanup(keep=1) == [run.pk]
    assert _partition_indexes(partition) is None and _partition_indexes(f"recommender_similartitle_run{run.pk}") is None
    assert not Recommendation.objects.exists() and not SimilarTitle.objects.exists()


def connection_cursor():
    from django.db import connection

    return connection.cursor()


def test_partitions_loaded_apart_stay_unread_until_attached_and_cleanup_drops_them_if_never(tmp_path, settings):
    """``run_partitions_load`` (the training runs it in a connection of its own) leaves tables no
    query reads; ``run_rows_write`` attaches them with the vectors; a run that died between the two
    leaves tables that cleanup finds and drops."""
    import numpy as np
    from django.db import transaction

    from recommender.communities.storing import Placement
    from recommender.models import Recommendation, TasteCommunity, TitleFactor, UserFactor
    from recommender.training.runs import model_run_cleanup
    from recommender.training.write_back import run_partitions_load, run_rows_write

    settings.RECOMMENDER_EXCHANGE_DIR = str(tmp_path / "exchange")
    _job_output(tmp_path / "out", users=5, titles=4, top_n=3)
    dead = ModelRun.objects.create(status="failed")
    assert run_partitions_load(run=dead, output_dir=tmp_path / "out") == {"recommendations": 15, "similar_titles": 8}
    assert _partition_indexes(f"recommender_recommendation_run{dead.pk}") == [
        "btree (id, run_id)",
        "btree (run_id, user_id, rank)",
        "btree (user_id)",
    ]  # keys built before attaching
    assert not Recommendation.objects.filter(run=dead).exists()  # not attached: not read

    run = ModelRun.objects.create(status="succeeded", is_active=True)
    first, second = TasteCommunity.objects.bulk_create(
        [TasteCommunity(run=run, number=number, name=f"c{number}") for number in (1, 2)]
    )
    placement = Placement(
        user_ids=[1, 2, 4],
        community_ids=[first.pk, second.pk, first.pk],
        user_xy=np.array([[0.5, -0.5], [1.0, 2.0], [3.0, 4.0]]),
        title_ids=["tt0000002"],
        title_xy=np.array([[-1.0, 0.25]]),
    )
    loaded = run_partitions_load(run=run, output_dir=tmp_path / "out")
    with transaction.atomic():
        counts = run_rows_write(
            run=run, output_dir=tmp_path / "out", placement=placement, partitions_loaded=lambda: loaded
        )
    assert counts == {"title_factors": 4, "user_factors": 5, "recommendations": 15, "similar_titles": 8}
    assert Recommendation.objects.filter(run=run).count() == 15
    assert sorted(UserFactor.objects.filter(run=run).values_list("user_id", "community_id", "x", "y")) == [
        (1, first.pk, 0.5, -0.5),
        (2, second.pk, 1.0, 2.0),
        (3, None, None, None),
        (4, first.pk, 3.0, 4.0),
        (5, None, None, None),
    ]
    assert sorted(TitleFactor.objects.filter(run=run).values_list("title_id", "x", "y")) == [
        ("tt0000001", None, None),
        ("tt0000002", -1.0, 0.25),
        ("tt0000003", None, None),
        ("tt0000004", None, None),
    ]

    assert model_run_cleanup(keep=1) == [dead.pk]
    assert _partition_indexes(f"recommender_recommendation_run{dead.pk}") is None
    assert _partition_indexes(f"recommender_similartitle_run{dead.pk}") is None
    assert Recommendation.objects.filter(run=run).count() == 15

"""The synthetic crowd: the star rule, the taste model, and the generator's writes (real Postgres)."""

import json
from collections import Counter, defaultdict
from decimal import Decimal

import numpy as np
import pytest
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test import RequestFactory

from accounts.models import User
from catalog.models import Title
from ratings.models import Rating, WatchlistItem
from ratings.synthetic import (
    DEFAULT_PERSONAS,
    DEFAULT_STAR_BUCKETS,
    GeneratorConfig,
    Persona,
    synthetic_users_generate,
    synthetic_users_remove,
)
from ratings.synthetic.generation import TitlePool, block_generate, star_bucket_index, star_draw
from tests.helpers import wait_for

GENRE_SETS = [
    ["Action", "Adventure"],
    ["Drama", "Romance"],
    ["Comedy", "Family"],
    ["Sci-Fi", "Horror"],
    ["Crime", "Drama"],
    ["Thriller"],
    ["War", "Drama"],
    ["Animation", "Comedy"],
    ["Fantasy"],
    ["Biography", "Drama"],
    ["Musical"],
    ["Western"],
    ["Film-Noir", "Crime"],
    ["Documentary"],
    [],
]


def titles_make(count: int = 300, *, seed: int = 0) -> list[Title]:
    """A catalog with every genre of the personas, averages across all buckets and skewed votes."""
    rng = np.random.default_rng(seed)
    titles = [
        Title(
            tconst=f"tt{9_000_000 + i:07d}",
            title_type="movie",
            primary_title=f"Test film {i}",
            start_year=1950,
            genres=GENRE_SETS[i % len(GENRE_SETS)],
            average_rating=Decimal(str(round(float(rng.uniform(3.0, 9.3)), 1))),
            num_votes=int(rng.lognormal(7, 1.5)) + 100,
        )
        for i in range(count)
    ]
    return Title.objects.bulk_create(titles)


def ratings_snapshot() -> list[tuple]:
    return sorted(
        Rating.objects.filter(user__kind=User.Kind.SYNTHETIC).values_list(
            "user__external_id", "user__persona", "title_id", "score"
        )
    )


# --- the star rule -------------------------------------------------------------------------------


def test_buckets_follow_the_seed_rule_at_the_boundaries():
    averages = np.array([10.0, 8.0, 7.9, 7.0, 6.9, 6.0, 5.9, 1.0])
    assert star_bucket_index(averages, DEFAULT_STAR_BUCKETS).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


@pytest.mark.parametrize(
    ("average", "expected"),
    [
        (8.6, {3: 10, 4: 40, 5: 50}),
        (8.0, {3: 10, 4: 40, 5: 50}),
        (7.4, {2: 5, 3: 35, 4: 45, 5: 15}),
        (6.5, {1: 5, 2: 30, 3: 40, 4: 25}),
        (4.8, {1: 40, 2: 40, 3: 20}),
    ],
)
def test_star_draws_follow_the_bucket_weights(average, expected):
    draws = 5000
    stars = star_draw(np.full(draws, average), rng=np.random.default_rng(11))
    counts = Counter(stars.tolist())
    assert set(counts) <= set(expected), f"stars outside the bucket: {counts}"
    total = sum(expected.values())
    for star, weight in expected.items():
        share = weight / total
        # 4 standard errors of a share estimated from 5000 draws: fails by chance about 1 in 15,000.
        tolerance = 4 * (share * (1 - share) / draws) ** 0.5
        assert abs(counts[star] / draws - share) < tolerance, (star, counts[star] / draws, share)


def test_star_rule_is_configurable_and_validated(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(
        json.dumps(
            {
                "star_buckets": [
                    {"min_average": 5, "stars": [5], "weights": [1]},
                    {"min_average": 0, "stars": [1, 2], "weights": [1, 0]},
                ]
            }
        )
    )
    config = GeneratorConfig.from_json(path)
    stars = star_draw(np.array([9.0] * 50 + [2.0] * 50), rng=np.random.default_rng(0), buckets=config.star_buckets)
    assert stars[:50].tolist() == [5] * 50 and stars[50:].tolist() == [1] * 50
    bad = [
        {"star_buckets": [{"min_average": 0, "stars": [6], "weights": [1]}]},
        {"star_buckets": [{"min_average": 0, "stars": [1, 2], "weights": [1]}]},
        {
            "star_buckets": [
                {"min_average": 6, "stars": [1], "weights": [1]},
                {"min_average": 7, "stars": [1], "weights": [1]},
            ]
        },
        {"star_buckets": [{"min_average": 0, "stars": [1], "weights": [0]}]},
        {"personas": []},
        {"mean_ratings": 1, "min_ratings": 5},
        {"no_such_setting": 1},
        {"personas": [{"label": "no name"}]},
    ]
    for data in bad:
        with pytest.raises(ValidationError):
            GeneratorConfig.from_dict(data)
    path.write_text("{not json")
    with pytest.raises(ValidationError):
        GeneratorConfig.from_json(path)


# --- the taste model, without the database ---------------------------------------------------------


def _pool(count: int = 5000, seed: int = 3, config: GeneratorConfig | None = None) -> TitlePool:
    rng = np.random.default_rng(seed)
    rows = [
        (
            f"tt{i:07d}",
            round(float(rng.uniform(3, 9.3)), 1),
            int(rng.lognormal(7, 1.8)) + 100,
            GENRE_SETS[i % len(GENRE_SETS)],
        )
        for i in range(count)
    ]
    return TitlePool.build(rows, config or GeneratorConfig())


def test_ratings_per_user_are_heavy_tailed_around_forty():
    config = GeneratorConfig()
    pool = _pool(config=config)
    per_user = np.concatenate(
        [
            np.bincount(block.rating_user, minlength=1000)
            for block in (block_generate(seed=5, block=b, pool=pool, config=config) for b in range(4))
        ]
    )
    assert per_user.min() >= config.min_ratings
    assert 37 <= per_user.mean() <= 43
    median = np.median(per_user)
    assert median < per_user.mean()  # skewed right
    assert np.percentile(per_user, 99) > 5 * median and per_user.max() > 10 * median


def test_each_user_rates_distinct_titles_weighted_by_votes():
    config = GeneratorConfig(personas=(Persona("casual_viewer", "Casual viewer"),))
    pool = _pool(count=2000, config=config)
    blocks = [block_generate(seed=1, block=b, pool=pool, config=config) for b in range(3)]
    for block in blocks:
        pairs = block.rating_user.astype(np.int64) * len(pool) + block.rating_title
        assert np.unique(pairs).size == pairs.size  # without replacement
    times_rated = np.bincount(np.concatenate([b.rating_title for b in blocks]), minlength=len(pool))
    votes = pool.num_votes
    popular, obscure = votes >= np.percentile(votes, 90), votes <= np.percentile(votes, 10)
    assert times_rated[popular].mean() > 5 * times_rated[obscure].mean()
    # Weighted by votes ** popularity_exponent: the ratio of rating counts follows the ratio of weights.
    expected = (votes[popular] ** config.popularity_exponent).mean() / (
        votes[obscure] ** config.popularity_exponent
    ).mean()
    observed = times_rated[popular].mean() / max(times_rated[obscure].mean(), 1e-9)
    assert 0.4 * expected < observed < 2.5 * expected


def test_a_user_wanting_most_of_a_tiny_pool_gets_distinct_titles():
    config = GeneratorConfig(min_ratings=5, mean_ratings=30, max_ratings=200)
    pool = _pool(count=12, config=config)
    block = block_generate(seed=2, block=0, pool=pool, config=config, size=300)
    per_user = np.bincount(block.rating_user, minlength=300)
    assert per_user.max() == 12 and per_user.min() >= 5
    pairs = block.rating_user.astype(np.int64) * 12 + block.rating_title
    assert np.unique(pairs).size == pairs.size


def test_blocks_are_pure_functions_of_seed_and_block():
    config = GeneratorConfig()
    pool = _pool(count=500, config=config)
    first, again = (block_generate(seed=9, block=3, pool=pool, config=config) for _ in range(2))
    other = block_generate(seed=10, block=3, pool=pool, config=config)
    for name in ("persona", "rating_user", "rating_title", "rating_stars"):
        assert np.array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.persona, other.persona)


# --- the generator on the database --------------------------------------------------------------


@pytest.mark.django_db
def test_generated_stars_follow_the_rule_when_taste_is_switched_off():
    """End to end: with only casual viewers and no personal leniency, the stars in the database
    per IMDb bucket are the seed's weights."""
    titles_make(400)
    config = GeneratorConfig(personas=(Persona("casual_viewer", "Casual viewer"),), user_bias_sd=0.0)
    report = synthetic_users_generate(users=400, seed=3, config=config)
    assert report.ratings_created > 10_000
    by_bucket = defaultdict(Counter)
    for average, score in Rating.objects.values_list("title__average_rating", "score"):
        by_bucket[int(star_bucket_index(np.array([float(average)]), DEFAULT_STAR_BUCKETS)[0])][score] += 1
    for position, bucket in enumerate(DEFAULT_STAR_BUCKETS):
        counts = by_bucket[position]
        draws = sum(counts.values())
        assert draws > 1000
        assert set(counts) <= set(bucket.stars)
        for star, weight in zip(bucket.stars, bucket.weights, strict=True):
            share = weight / sum(bucket.weights)
            assert abs(counts[star] / draws - share) < 5 * (share * (1 - share) / draws) ** 0.5 + 0.01, (bucket, star)


@pytest.mark.django_db
def test_personas_rate_their_genres_higher_and_more_often():
    titles = titles_make(400)
    synthetic_users_generate(users=1200, seed=21)
    genres = {title.tconst: set(title.genres) for title in titles}
    rows = list(Rating.objects.values_list("user__persona", "title_id", "score"))
    for persona in DEFAULT_PERSONAS:
        if not persona.likes:
            continue
        liked = set(persona.likes)
        mine = [(t, s) for p, t, s in rows if p == persona.name]
        # Everyone else but the personas who like one of the same genres (drama lovers and crime
        # fans share Drama: each lifts the other's Drama stars too).
        sharing = {other.name for other in DEFAULT_PERSONAS if set(other.likes) & liked}
        others = [(t, s) for p, t, s in rows if p not in sharing]
        mine_liked = [s for t, s in mine if genres[t] & liked]
        others_liked = [s for t, s in others if genres[t] & liked]
        casual_liked = [s for p, t, s in rows if p == "casual_viewer" and genres[t] & liked]
        high_mine = sum(s >= 4 for s in mine_liked) / len(mine_liked)
        high_others = sum(s >= 4 for s in others_liked) / len(others_liked)
        high_casual = sum(s >= 4 for s in casual_liked) / len(casual_liked)
        # The signal a recommender should find: more 4-5 stars for their genres than the others
        # give them ...
        assert high_mine > high_others + 0.07, (persona.name, high_mine, high_others)
        assert high_mine > high_casual + 0.1, (persona.name, high_mine, high_casual)
        assert np.mean(mine_liked) > np.mean(others_liked) + 0.3
        # ... and their genres make up more of what they rate.
        share_mine = len(mine_liked) / len(mine)
        share_others = len(others_liked) / len(others)
        assert share_mine > share_others + 0.1, (persona.name, share_mine, share_others)


@pytest.mark.django_db
def test_synthetic_users_are_flagged_and_cannot_log_in(client):
    titles_make(60)
    synthetic_users_generate(users=30, seed=4)
    users = list(User.objects.filter(kind=User.Kind.SYNTHETIC))
    assert len(users) == 30
    names = {persona.name for persona in DEFAULT_PERSONAS}
    for user in users:
        assert user.persona in names
        assert user.external_id == f"4:{user.username.rsplit(':', 1)[1]}"
        assert user.password.startswith("!") and not user.has_usable_password()
        assert not user.is_staff and not user.is_superuser
        assert user.ratings.count() >= GeneratorConfig().min_ratings
        # Dated like the user: written in the same transaction.
        assert set(user.ratings.values_list("created_at", "updated_at")) == {(user.date_joined, user.date_joined)}
    assert len({user.password for user in users}) == 30
    # Even with a real password set, the site refuses them: only site users may sign in.
    robot = users[0]
    robot.set_password("a-Strong-pass-123")
    robot.save()
    request = RequestFactory().post("/accounts/login/")
    assert authenticate(request, username=robot.username, password="a-Strong-pass-123") is None
    response = client.post("/accounts/login/", {"username": robot.username, "password": "a-Strong-pass-123"})
    assert response.status_code == 200 and "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_same_seed_same_crowd_and_no_duplicates():
    titles_make(200)
    first = synthetic_users_generate(users=150, seed=7)
    snapshot = ratings_snapshot()
    assert first.users_created == 150 and first.ratings_created == len(snapshot) > 0

    again = synthetic_users_generate(users=150, seed=7)
    assert (again.users_created, again.ratings_created, again.users_existing) == (0, 0, 150)
    assert ratings_snapshot() == snapshot
    assert User.objects.filter(kind=User.Kind.SYNTHETIC).count() == 150

    synthetic_users_remove()
    assert ratings_snapshot() == []
    # Asking for fewer and then more gives exactly the same crowd as asking for all at once.
    assert synthetic_users_generate(users=40, seed=7).users_created == 40
    grown = synthetic_users_generate(users=150, seed=7)
    assert (grown.users_created, grown.users_existing) == (110, 40)
    assert ratings_snapshot() == snapshot

    other_seed = synthetic_users_generate(users=150, seed=8)
    assert other_seed.users_created == 150
    assert User.objects.filter(kind=User.Kind.SYNTHETIC).count() == 300
    seeds = Counter(
        external_id.split(":")[0]
        for external_id in User.objects.filter(kind=User.Kind.SYNTHETIC).values_list("external_id", flat=True)
    )
    assert seeds == {"7": 150, "8": 150}


@pytest.mark.django_db(transaction=True)
def test_parallel_writers_write_the_same_crowd_as_one_writer():
    titles_make(200)
    report = synthetic_users_generate(users=2500, seed=12, writers=2, chunk_blocks=1, rebuild_indexes=False)
    assert report.users_created == 2500 and not report.indexes_rebuilt
    parallel = ratings_snapshot()
    synthetic_users_remove()
    synthetic_users_generate(users=2500, seed=12, writers=1, rebuild_indexes=False)
    assert ratings_snapshot() == parallel
    synthetic_users_remove()
    # An empty rating table: one transaction, its indexes dropped and rebuilt. The same crowd.
    assert synthetic_users_generate(users=2500, seed=12).indexes_rebuilt
    assert ratings_snapshot() == parallel

    # The writer threads closed their connections (a backend takes a moment to exit).
    def no_other_connection() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0] == 0

    wait_for(no_other_connection, timeout=5, interval=0.1, what="the writer threads' connections closed")


def rating_indexes() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'ratings_rating' ORDER BY 1")
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'ratings_rating'::regclass ORDER BY 1"
        )
        return indexes + cursor.fetchall()


@pytest.mark.django_db
def test_a_crowd_larger_than_the_rating_table_rebuilds_its_indexes_as_they_were():
    titles_make(100)
    with connection.cursor() as cursor:
        # An earlier test's ANALYZE outlives its rolled-back ratings: the estimate would say "many".
        cursor.execute("ANALYZE ratings_rating")
    before = rating_indexes()
    assert any(name == "ratings_rating_unique_user_title" for name, _ in before)
    report = synthetic_users_generate(users=120, seed=2)
    assert report.indexes_rebuilt and report.ratings_created > 0
    assert rating_indexes() == before
    # The unique constraint is back and holds.
    rating = Rating.objects.filter(user__kind=User.Kind.SYNTHETIC).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(user=rating.user, title=rating.title, score=1)

    # Next to more ratings than it brings, a crowd keeps the indexes and writes chunk by chunk.
    small = synthetic_users_generate(users=2, seed=3)
    assert small.users_created == 2 and not small.indexes_rebuilt
    assert rating_indexes() == before


@pytest.mark.django_db
def test_only_titles_with_enough_votes_an_average_and_a_rateable_type():
    titles_make(120)
    Title.objects.create(
        tconst="tt8000001",
        title_type="movie",
        primary_title="Obscure",
        average_rating=Decimal("9.9"),
        num_votes=99,
        genres=["Drama"],
    )
    Title.objects.create(tconst="tt8000002", title_type="movie", primary_title="Unrated", num_votes=5_000_000)
    Title.objects.create(
        tconst="tt8000003",
        title_type="tvEpisode",
        primary_title="Episode",
        average_rating=Decimal("9.0"),
        num_votes=5_000_000,
        genres=["Drama"],
    )
    report = synthetic_users_generate(users=300, seed=1, min_votes=100)
    assert report.titles_in_pool == 120
    assert not Rating.objects.filter(title_id__in=["tt8000001", "tt8000002", "tt8000003"]).exists()
    assert Rating.objects.filter(title__num_votes__lt=100).count() == 0
    assert synthetic_users_generate(users=10, seed=2, min_votes=99).titles_in_pool == 121


@pytest.mark.django_db
def test_bad_requests_write_nothing():
    with pytest.raises(ValidationError, match="No titles to rate"):
        synthetic_users_generate(users=10, seed=1)
    titles_make(30)
    for kwargs in (
        {"users": 0, "seed": 1},
        {"users": 5, "seed": -1},
        {"users": "5", "seed": 1},
        {"users": 5, "seed": 1, "writers": 0},
        {"users": 5, "seed": 1, "min_votes": -3},
    ):
        with pytest.raises(ValidationError):
            synthetic_users_generate(**kwargs)
    assert not User.objects.filter(kind=User.Kind.SYNTHETIC).exists()


@pytest.mark.django_db
def test_a_title_leaving_the_catalog_mid_run_fails_the_chunk_cleanly():
    titles = titles_make(20)

    def progress(done, total, message):
        if done == 0:  # after the pool was read, before anything is written
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM catalog_title WHERE tconst = ANY(%s)", [[t.tconst for t in titles[:10]]])

    with pytest.raises(Exception) as raised:  # ValidationError (fast path) or IntegrityError (triggers)
        synthetic_users_generate(users=50, seed=1, progress=progress)
    assert "catalog" in str(raised.value) or "foreign key" in str(raised.value)
    assert not Rating.objects.exists() and not User.objects.filter(kind=User.Kind.SYNTHETIC).exists()


@pytest.mark.django_db
def test_removal_takes_only_synthetic_users_and_their_things(user_factory):
    titles = titles_make(80)
    synthetic_users_generate(users=60, seed=5)
    robot = User.objects.filter(kind=User.Kind.SYNTHETIC).first()
    WatchlistItem.objects.create(user=robot, title=titles[0])
    person = user_factory()
    Rating.objects.create(user=person, title=titles[0], score=4)
    lens = user_factory(kind=User.Kind.MOVIELENS, external_id="77")
    Rating.objects.create(user=lens, title=titles[1], score=2)
    synthetic_ratings = Rating.objects.filter(user__kind=User.Kind.SYNTHETIC).count()

    assert synthetic_users_remove(dry_run=True) == {"users": 60, "ratings": synthetic_ratings}
    assert User.objects.filter(kind=User.Kind.SYNTHETIC).count() == 60

    assert synthetic_users_remove() == {"users": 60, "ratings": synthetic_ratings}
    assert not User.objects.filter(kind=User.Kind.SYNTHETIC).exists()
    assert not WatchlistItem.objects.exists()
    assert set(Rating.objects.values_list("user_id", flat=True)) == {person.pk, lens.pk}
    assert synthetic_users_remove() == {"users": 0, "ratings": 0}


# --- the commands ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_generate_and_remove_commands(capsys, tmp_path):
    titles_make(100)
    call_command("generate_synthetic_users", "--users", "50", "--seed", "3", "--min-votes", "100")
    out = capsys.readouterr().out
    assert "50 synthetic users created (0 already there)" in out
    call_command("generate_synthetic_users", "--users", "50", "--seed", "3")
    assert "0 synthetic users created (50 already there), 0 ratings" in capsys.readouterr().out

    config = tmp_path / "all-fives.json"
    config.write_text(
        json.dumps(
            {
                "star_buckets": [{"min_average": 0, "stars": [5], "weights": [1]}],
                "personas": [{"name": "casual_viewer"}],
                "user_bias_sd": 0,
            }
        )
    )
    call_command("generate_synthetic_users", "--users", "20", "--seed", "4", "--config", str(config))
    assert set(Rating.objects.filter(user__external_id__startswith="4:").values_list("score", flat=True)) == {5}
    assert set(User.objects.filter(external_id__startswith="4:").values_list("persona", flat=True)) == {"casual_viewer"}

    capsys.readouterr()
    call_command("generate_synthetic_users", "--show-config")
    shown = json.loads(capsys.readouterr().out)
    assert shown["star_buckets"][0] == {"min_average": 8.0, "stars": [3, 4, 5], "weights": [10, 40, 50]}
    assert GeneratorConfig.from_dict(shown) == GeneratorConfig()

    for bad in (["--users", "0"], ["--seed", "1"], ["--users", "5", "--config", str(tmp_path / "missing.json")]):
        with pytest.raises(CommandError):
            call_command("generate_synthetic_users", *bad)

    users = User.objects.filter(kind=User.Kind.SYNTHETIC).count()
    call_command("remove_synthetic_users", "--dry-run")
    assert f"would remove {users} synthetic users" in capsys.readouterr().out
    assert User.objects.filter(kind=User.Kind.SYNTHETIC).count() == users == 70
    call_command("remove_synthetic_users")
    assert "removed 70 synthetic users" in capsys.readouterr().out
    assert not User.objects.filter(kind=User.Kind.SYNTHETIC).exists()


@pytest.mark.django_db(transaction=True)
def test_with_row_triggers_on_the_crowd_is_the_same_and_references_hold():
    """What a role that may not skip triggers gets: the same users and ratings, checked row by row."""
    titles = titles_make(60)
    slow = synthetic_users_generate(users=80, seed=6, skip_row_triggers=False)
    assert slow.fast_path is False and slow.users_created == 80
    snapshot = ratings_snapshot()
    synthetic_users_remove()
    assert synthetic_users_generate(users=80, seed=6).fast_path is True
    assert ratings_snapshot() == snapshot
    synthetic_users_remove()

    def progress(done, total, message):
        if done == 0:
            Title.objects.filter(tconst__in=[title.tconst for title in titles[:30]]).delete()

    with pytest.raises(IntegrityError):
        synthetic_users_generate(users=80, seed=6, skip_row_triggers=False, progress=progress)
    assert not Rating.objects.exists() and not User.objects.filter(kind=User.Kind.SYNTHETIC).exists()

"""The hybrid recommender (recommender/DESIGN.md §11): content joins the collaborative model.

The numpy parts on made-up titles, then the whole thing on the bundled sample (catalog/sample):
imported, a synthetic crowd, the real training (export, Spark job, write-back), and probe
members who are not in the trained model (their recommendations come from the live fold-in).
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection

from accounts.models import User
from catalog.models import Title
from ratings.services import rating_set
from recommender.models import ModelRun, TitleFactor, UserFactor
from recommender.serving import explanations, ranking, run_model
from recommender.serving.similar import similar_title_list
from recommender.spark import content, scoring

# --- the content side in numpy ---------------------------------------------------------------------


def _catalog() -> content.Content:
    """Five films: 1-3 share a director (1 and 2 also a genre set), 4 shares only the genres of 1,
    5 is a series of another era sharing nothing."""
    return content.content_build(
        ids=[1, 2, 3, 4, 5],
        kind=["movie", "movie", "movie", "movie", "tvSeries"],
        year=[1950, 1952, 1948, 1951, 1990],
        runtime=[100, 110, 95, 105, None],
        rating=[7.5, 7.8, 7.0, 7.4, 6.0],
        votes=[50_000, 40_000, 9_000, 60_000, 100],
        genres=[["Crime", "Film-Noir"], ["Crime", "Film-Noir"], ["Comedy"], ["Crime", "Film-Noir"], ["Family"]],
        people_item=[1, 2, 3, 1, 4],
        people_person=[7, 7, 7, 8, 9],
        people_weight=[1.0, 1.0, 1.0, 0.7, 0.7],
    )


def test_titles_are_alike_through_what_they_share():
    catalog = _catalog()
    similarity = content.similarity_block(catalog, np.array([0]))[0]
    assert similarity[0] == 0  # never itself
    assert similarity[1] > similarity[3] > 0  # director and genres > genres alone
    assert similarity[2] > 0  # the director alone
    assert similarity[4] == 0  # nothing shared
    offsets, rows, _ = content.neighbours_of(catalog, np.arange(5), 2)
    # The director's other film comes before the film sharing only the genres: a shared person is a
    # link of its own, which era, length and rating temper less than a genre link.
    assert list(rows[offsets[0] : offsets[1]]) == [1, 2]
    assert similarity[2] > similarity[3]
    assert offsets[5] - offsets[4] == 0  # the series has no neighbour


def test_a_rare_genre_shared_says_more_than_a_common_one():
    """Genres weigh by how specific they are: sharing Film-Noir (two titles of six) makes two films
    more alike than sharing Drama (five of six), although a plain Jaccard says the opposite."""
    genres = [["Drama", "Film-Noir"], ["Drama"], ["Drama"], ["Drama"], ["Crime", "Film-Noir"], ["Comedy", "Drama"]]
    catalog = content.content_build(
        ids=range(1, 7),
        kind=["movie"] * 6,
        year=[1950] * 6,
        runtime=[100] * 6,
        rating=[7.0] * 6,
        votes=[1000] * 6,
        genres=genres,
    )
    similarity = content.similarity_block(catalog, np.array([0]))[0]
    assert similarity[4] > similarity[1] > similarity[5] > 0
    assert similarity[4] == pytest.approx(
        content.GENRE_SHARE * (np.log(3) / (np.log(6 / 5) + np.log(3) + np.log(6))) ** 2, rel=1e-5
    )


def test_more_like_this_needs_something_shared_where_content_can_say():
    """Between two titles with content, the same viewers alone do not make them alike (famous
    classics share most viewers); a title without content still gets neighbours by the cosine."""
    catalog = _catalog()
    side = scoring.ItemSide.build(
        ids=[1, 2, 3, 4, 5, 6],
        factors=np.ones((6, 2)),
        rating_factors=np.ones((6, 2)),
        bias=np.zeros(6),
        support=[50] * 6,
    )
    unit = side.factors / np.linalg.norm(side.factors, axis=1, keepdims=True)
    candidates = np.arange(6)
    best, _, valid = scoring.similar_titles(side.positions([5, 1, 6]), side, unit, candidates, 5, catalog=catalog)
    assert list(side.ids[best[0][valid[0]]]) == [6]  # the series shares nothing: only the title without content
    assert {2, 3, 4} <= set(side.ids[best[1][valid[1]]]) and 5 not in side.ids[best[1][valid[1]]]
    assert set(side.ids[best[2][valid[2]]]) == {1, 2, 3, 4, 5}  # no content: the viewers speak


def test_the_content_term_is_the_shrunk_mean_of_the_ratings_leanings():
    catalog = _catalog()
    offsets, rows, values = content.neighbours_of(catalog, np.arange(5), 3)
    side = scoring.ItemSide.build(
        ids=[1, 2, 3], factors=np.ones((3, 2)), rating_factors=np.ones((3, 2)), bias=np.zeros(3), support=[5, 4, 3]
    ).with_content(catalog.ids, offsets, catalog.ids[rows], values)
    model = {"scale_min": 1.0, "scale_max": 5.0, "content_weight": 2.0, "content_prior": 3.0}
    rows = side.positions([1, 3])
    stars = np.array([5.0, 2.0])
    term = scoring.side_content_scores(np.zeros(2, np.int64), rows, stars, 1, side, model)[0]
    expected = np.zeros(len(side.ids))
    for row, star in zip(rows, stars, strict=True):
        low, high = side.content_neighbours.offsets[row], side.content_neighbours.offsets[row + 1]
        for neighbour, value in zip(
            side.content_neighbours.rows[low:high], side.content_neighbours.scores[low:high], strict=True
        ):
            expected[neighbour] += 2.0 * ((star - 3.0) / 2.0) * value / (2 + 3.0)
    np.testing.assert_allclose(term, expected, rtol=1e-5)
    assert term[side.positions([2])[0]] > 0  # liked through its director and genres
    # The unrated titles joined the side with zero vectors and no support; the series nothing.
    assert list(side.support[side.positions([4, 5])]) == [0, 0]


def test_titles_with_few_ratings_borrow_their_neighbours_vectors():
    catalog = _catalog()
    offsets, rows, values = content.neighbours_of(catalog, np.arange(5), 3)
    side = scoring.ItemSide.build(
        ids=[1, 2, 3],
        factors=np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]),
        rating_factors=np.zeros((3, 1)),
        bias=np.zeros(3),
        support=[100, 100, 1],
    ).with_content(catalog.ids, offsets, catalog.ids[rows], values)
    before = side.factors.copy()
    side.with_borrowed_vectors(2.0)
    never_rated = side.positions([4])[0]  # no one rated it: its noir neighbours' direction
    assert np.linalg.norm(before[never_rated]) == 0 and side.factors[never_rated][0] > 0.5
    assert np.abs(side.factors[0] - before[0]).max() < 0.05  # 100 ratings: barely moved
    np.testing.assert_allclose(side.gram, side.factors.astype(np.float64).T @ side.factors.astype(np.float64))


# --- the bundled sample -------------------------------------------------------------------------------

SAMPLE_PARAMS = {"rank": 16, "iterations": 5, "rating_rank": 8, "rating_iterations": 5, "holdout_fraction": 0.1}
# Directors with at least eight films in the sample, from 45 (Ford) to 11 (Welles): the probe rates
# the five most voted, and the fewer and less known the others, the harder they are to bring up.
DIRECTORS = (
    "Alfred Hitchcock",
    "John Ford",
    "Fritz Lang",
    "Billy Wilder",
    "Akira Kurosawa",
    "Charles Chaplin",
    "Orson Welles",
)


@pytest.fixture(scope="module")
def sample_run(django_db_setup, django_db_blocker, tmp_path_factory):
    """The bundled sample, 800 synthetic users and a real training, committed for the module and
    flushed after it (the training's write-back uses connections of its own)."""
    from django.conf import settings

    from recommender.training.partitions import run_rows_delete
    from recommender.training.pipeline import model_run_train
    from recommender.training.runs import model_run_create

    with django_db_blocker.unblock():
        old_exchange = settings.RECOMMENDER_EXCHANGE_DIR
        settings.RECOMMENDER_EXCHANGE_DIR = str(tmp_path_factory.mktemp("exchange"))
        try:
            call_command("import_imdb", "--dir", "catalog/sample", verbosity=0)
            call_command("generate_synthetic_users", "--users", "800", "--seed", "42", verbosity=0)
            run = model_run_train(run_id=model_run_create(params=SAMPLE_PARAMS, triggered_by="test").pk)
            assert run.status == ModelRun.Status.SUCCEEDED, run.error
            run_model.run_model_forget()
            yield run
        finally:
            settings.RECOMMENDER_EXCHANGE_DIR = old_exchange
            run_model.run_model_forget()
            # A run's partitions are tables of their own: a flush empties them but leaves them,
            # and later tests that count partitions would find this module's.
            run_rows_delete(list(ModelRun.objects.values_list("pk", flat=True)))
            call_command("flush", interactive=False, verbosity=0)


def _directed_by(name: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.title_id FROM catalog_crew c
            JOIN catalog_person p ON p.nconst = c.person_id JOIN catalog_title t ON t.tconst = c.title_id
            WHERE c.role = 'director' AND p.primary_name = %s ORDER BY t.num_votes DESC, t.tconst
            """,
            [name],
        )
        return [row[0] for row in cursor.fetchall()]


def _probe(name: str, tconsts: list[str], stars: int = 5) -> User:
    user = User.objects.create_user(username=name, password="probe-password-2024")
    for tconst in tconsts:
        rating_set(user=user, title=Title.objects.get(pk=tconst), score=stars)
    return user


@pytest.mark.spark
@pytest.mark.django_db
def test_five_films_of_a_director_bring_three_more_of_theirs(sample_run):
    assert (
        TitleFactor.objects.filter(run=sample_run).count()
        > TitleFactor.objects.filter(run=sample_run, support__gt=0).count()
    ), "titles no one rated are in the run, through their content"
    short = {}
    for director in DIRECTORS:
        films = _directed_by(director)
        assert len(films) >= 11, director
        user = _probe(f"probe-{director.split()[-1].lower()}", films[:5])
        assert not UserFactor.objects.filter(run=sample_run, user=user).exists()  # not in the trained model
        live = ranking.recommendation_list_live(user=user, limit=10)
        assert live.state.folded  # the live fold-in served them
        others = [item.tconst for item in live.items if item.tconst in films[5:]]
        if len(others) < 3:
            short[director] = [Title.objects.get(pk=item.tconst).primary_title for item in live.items]
    assert not short, short


@pytest.mark.spark
@pytest.mark.django_db
def test_a_noir_and_thriller_fan_gets_mostly_noir_thrillers_and_mysteries(sample_run):
    liked = list(
        Title.objects.filter(genres__overlap=["Film-Noir", "Thriller"])
        .order_by("-num_votes")
        .values_list("tconst", flat=True)[:8]
    )
    user = _probe("probe-noir", liked)
    live = ranking.recommendation_list_live(user=user, limit=10)
    kinds = [
        set(Title.objects.get(pk=item.tconst).genres) & {"Film-Noir", "Thriller", "Mystery"} for item in live.items
    ]
    assert len(live.items) == 10
    assert sum(1 for kind in kinds if kind) >= 6, kinds


def _people(tconst: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT person_id FROM catalog_crew WHERE title_id = %(t)s UNION "
            "SELECT person_id FROM catalog_principal WHERE title_id = %(t)s",
            {"t": tconst},
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.spark
@pytest.mark.django_db
def test_more_like_this_shares_people_or_genres_and_is_not_obscure(sample_run):
    """For each of the sample's 20 most-voted titles (issue 17): at least 70 % of its first 12
    share a director, writer or principal, or two genres, with it, and their median IMDb votes is
    at least a tenth of its own."""
    failing = {}
    for title in Title.objects.order_by("-num_votes", "tconst")[:20]:
        items = similar_title_list(title=title, limit=12, run=sample_run)
        assert len(items) == 12 and all(item.source == "model" for item in items)
        people = _people(title.tconst)
        related = [
            item
            for item in items
            if _people(item.title.tconst) & people or len(set(item.title.genres) & set(title.genres)) >= 2
        ]
        share = len(related) / len(items)
        ratio = statistics.median(item.title.num_votes for item in items) / title.num_votes
        if share < 0.7 or ratio < 0.1:
            failing[title.primary_title] = (round(share, 2), round(ratio, 3))
        assert all(item.reason != "Similar" for item in items)
    assert not failing, failing


@pytest.mark.spark
@pytest.mark.django_db
def test_explanations_cite_the_largest_contributors_and_the_shared_director(sample_run):
    films = _directed_by("Alfred Hitchcock")
    user = _probe("probe-explained", films[:5])
    rating_set(user=user, title=Title.objects.get(pk=_directed_by("John Ford")[0]), score=4)
    live = ranking.recommendation_list_live(user=user, limit=10)
    positions = [item.position for item in live.items]
    found = explanations.explanations_for(model=live.model, ratings=live.state.ratings, positions=positions)
    matrix, tconsts, stars = explanations.contributions(
        model=live.model, ratings=live.state.ratings, positions=positions
    )
    # The contributions and the popularity term add up to the score the list was ranked by.
    np.testing.assert_allclose(
        matrix.sum(axis=1) + live.model.popularity[positions], [item.score for item in live.items], rtol=1e-4, atol=1e-5
    )
    people = 0
    for row, explanation in zip(matrix, found, strict=True):
        cited = [reason.tconst for reason in explanation.reasons]
        if explanation.kind in ("ratings", "person"):
            # What is cited is what raised the score most: no uncited rating contributed more.
            uncited = [value for tconst, value in zip(tconsts, row, strict=True) if tconst not in cited]
            assert min(row[tconsts.index(tconst)] for tconst in cited) >= max(uncited, default=-np.inf)
            assert cited[0] == tconsts[int(np.argmax(row))]
        if explanation.kind == "person":
            people += 1
            rated = Title.objects.get(pk=cited[0]).primary_title
            assert explanation.text == f"Directed by Alfred Hitchcock, like {rated}, which you rated ★★★★★"
    assert people >= 3

"""The members' say over their recommendations: discovery, variety, hidden years and genre.

The numpy functions (``recommender.serving.ranking_controls``), the saved settings
(``member_controls``), the page (POST to keep, GET with the controls in the URL, the cache keyed by
validated values only) and the same controls on the run's own vectors and on a fold-in.
"""

import re
from statistics import mean

import numpy as np
import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from ratings.services import rating_set
from recommender.models import Recommendation, RecommendationControls, TitleFactor
from recommender.quality.controls import ControlsSide, controls_measure, genres_attach
from recommender.serving.foldin import user_ratings_and_exclusions, user_state_get, user_vectors_solve
from recommender.serving.member_controls import controls_for_user, controls_save
from recommender.serving.ranking import ranked_titles
from recommender.serving.ranking_controls import (
    VARIETY_WINDOW,
    RankingControls,
    genre_diversity,
    genre_similarity,
    intra_list_diversity,
    variety_order,
    year_genre_mask,
)
from recommender.serving.run_model import active_run, run_model_get

URL = "/recommendations/"
CONTROLS_URL = "/recommendations/controls/"


def _ranked(html: str) -> list[str]:
    return re.findall(r'class="card rec-card" data-tconst="(tt\d+)"', html)


@pytest.fixture
def member(world):
    user = world["users"][0]
    User.objects.filter(pk=user.pk).update(kind=User.Kind.SITE)
    return User.objects.get(pk=user.pk)


def _page_keys() -> set:
    client = cache._cache.get_client(write=False)
    return set(client.keys("*recommender:page:*"))


# --- the numpy side --------------------------------------------------------------------------------


def test_variety_order_starts_with_the_best_and_is_a_prefix_of_longer_lists():
    rng = np.random.default_rng(1)
    scores = np.sort(rng.uniform(0.2, 1.0, 80))[::-1]
    vectors = rng.normal(size=(80, 6))
    user = rng.normal(size=6)
    order = variety_order(scores, vectors, 30, user_vector=user)
    assert order[0] == 0 and len(set(order.tolist())) == 30
    assert variety_order(scores, vectors, 10, user_vector=user).tolist() == order[:10].tolist()
    # No weight on variety: the score order.
    assert variety_order(scores, vectors, 10, tradeoff=0.0).tolist() == list(range(10))
    # The n-th pick comes from the best n + window candidates.
    assert all(position < n + 1 + VARIETY_WINDOW for n, position in enumerate(order))
    narrow = variety_order(scores, vectors, 30, tradeoff=0.9, window=3)
    assert all(position < n + 1 + 3 for n, position in enumerate(narrow)) and narrow.tolist() != list(range(30))


def test_variety_lowers_the_same_similarity_the_diversity_measure_reports():
    """The picks' cosine is the one ``intra_list_diversity`` measures (the full ranking vectors): a
    title unlike the first one in full wins over one unlike it only off the member's direction."""
    user = np.array([1.0, 0.0, 0.0])
    vectors = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 1.0], [0.2, 1.0, 0.0]])
    scores = np.array([1.0, 0.97, 0.95])
    full = variety_order(scores, vectors, 2, user_vector=user, tradeoff=0.4)
    residual = variety_order(scores, vectors, 2, user_vector=user, tradeoff=0.4, residual=True)
    assert full.tolist() == [0, 2]
    assert intra_list_diversity(vectors[full]) > intra_list_diversity(vectors[[0, 1]])
    assert residual.tolist() == [0, 1]  # the residual of title 0 is nil: no say


def test_variety_picks_the_unlike_title_over_a_near_duplicate():
    vectors = np.array([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0]])
    scores = np.array([1.0, 0.98, 0.9])
    assert variety_order(scores, vectors, 2, tradeoff=0.5).tolist() == [0, 2]
    assert variety_order(scores, vectors, 2, tradeoff=0.0).tolist() == [0, 1]
    assert intra_list_diversity(vectors[[0, 2]]) == pytest.approx(1.0)
    assert intra_list_diversity(vectors[[0, 1]]) < 0.01
    assert intra_list_diversity(vectors[:1]) == 0.0


def test_genre_similarity_is_one_minus_the_genre_diversity_distance():
    """Jaccard by hand: {Drama} and {Drama, Crime} share 1 of 2; no genre at all is like itself."""
    sets = [frozenset({"Drama"}), frozenset({"Drama", "Crime"}), frozenset({"Comedy"}), frozenset()]
    names = ["Comedy", "Crime", "Drama"]
    matrix = np.array([[name in genres for name in names] for genres in sets], dtype=float)
    similarity = genre_similarity(matrix)
    assert similarity[0, 1] == pytest.approx(0.5) and similarity[0, 2] == 0.0 and similarity[2, 3] == 0.0
    assert np.diag(similarity).tolist() == [1.0, 1.0, 1.0, 1.0]
    for i in range(4):
        for j in range(i + 1, 4):
            assert 1 - similarity[i, j] == pytest.approx(genre_diversity([sets[i], sets[j]]))


def test_variety_on_genres_picks_the_other_genre_over_the_close_vector():
    """With ``similarity`` the picks penalise it, not the vectors' cosine: the vectors call title 1
    unlike title 0 and title 2 alike, the genres say the opposite."""
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.99, 0.01]])
    genres = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # titles 0 and 1 share their genre
    scores = np.array([1.0, 0.95, 0.94])
    assert variety_order(scores, vectors, 2, tradeoff=0.5).tolist() == [0, 1]
    by_genre = variety_order(scores, vectors, 2, tradeoff=0.5, similarity=genre_similarity(genres))
    assert by_genre.tolist() == [0, 2]
    # The same similarity as the vectors' cosine gives the same order as the default.
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert variety_order(scores, vectors, 3, tradeoff=0.5, similarity=unit @ unit.T).tolist() == (
        variety_order(scores, vectors, 3, tradeoff=0.5).tolist()
    )


def test_year_and_genre_masks_keep_unknown_years():
    year = np.array([1950.0, 1990.0, np.nan, 2005.0])
    genres = {"Horror": np.array([False, False, False, True])}
    support = np.array([10, 10, 10, 10])
    mask = year_genre_mask(
        RankingControls(hide_before=1980, hide_genre="Horror"), year=year, genre_masks=genres, support=support
    )
    assert mask.tolist() == [False, True, True, False]
    assert year_genre_mask(RankingControls(), year=year, genre_masks=genres, support=support) is None
    # An unknown genre hides nothing.
    assert year_genre_mask(RankingControls(hide_genre="Opera"), year=year, genre_masks=genres, support=support) is None


def _made_up_side(rng, items: int, *, support_range: tuple[int, int]) -> ControlsSide:
    """A run's title side of ``items`` random 5-d vectors, support drawn in ``support_range`` and
    popularity its log share, weighted 0.3."""
    factors = rng.normal(size=(items, 5))
    support = rng.integers(*support_range, items)
    return ControlsSide(
        ids=np.arange(items),
        factors=factors,
        support=support,
        popularity=np.log1p(support) / np.log1p(support.max()),
        popularity_weight=0.3,
    )


def test_the_measurement_ranks_what_the_steps_say():
    """controls_measure on a small made-up run: hidden gems recommend less-rated titles."""
    rng = np.random.default_rng(3)
    items = 300
    side = _made_up_side(rng, items, support_range=(1, 400))
    users = np.arange(20)
    user_factors = rng.normal(size=(20, 5)) * 0.3
    train_users, train_items = np.repeat(users, 5), rng.integers(0, items, 100)
    test_users, test_items = np.repeat(users, 3), rng.integers(0, items, 60)
    crowd, gems, varied, plain = controls_measure(
        side,
        users,
        user_factors,
        train_users,
        train_items,
        test_users,
        test_items,
        [
            RankingControls(discovery=1),
            RankingControls(discovery=5),
            RankingControls(variety=True),
            RankingControls(),
        ],
    )
    assert gems.median_support < crowd.median_support / 2
    assert varied.vector_diversity > plain.vector_diversity
    assert crowd.users == 20


def test_the_measurement_reranks_by_the_basis_it_is_given(tmp_path):
    """Variety on the genres raises the genres' diversity more than variety on the vectors; on the
    rating vectors (``basis="ratings"``) it raises evaluate_recommender's figure; λ = 1 on a basis is
    the pool's most diverse list by that measure."""
    rng = np.random.default_rng(5)
    items, users = 240, 40
    side = _made_up_side(rng, items, support_range=(5, 200))
    names = ["Action", "Comedy", "Drama", "Horror", "Romance", "Western"]
    movies = tmp_path / "movies.csv"
    lines = ["movieId,title,genres"]
    for item in range(items):
        chosen = rng.choice(names, size=int(rng.integers(1, 3)), replace=False) if item % 40 else []
        lines.append(f"{item},Title {item},{'|'.join(chosen) or '(no genres listed)'}")
    movies.write_text("\n".join(lines) + "\n")
    genres_attach(side, movies)
    assert side.genre_matrix is not None and side.genre_matrix.shape == (items, len(names))
    user_factors = rng.normal(size=(users, 5)) * 0.3
    train_users, train_items = np.repeat(np.arange(users), 30), rng.integers(0, items, users * 30)
    test_users, test_items = np.repeat(np.arange(users), 5), rng.integers(0, items, users * 5)
    arguments = (side, np.arange(users), user_factors, train_users, train_items, test_users, test_items)
    settings = [RankingControls(), RankingControls(variety=True)]

    def measured(basis, tradeoff=0.6):
        return controls_measure(*arguments, settings, tradeoff=tradeoff, window=60, basis=basis)

    plain, by_vectors = measured("vectors")
    _, by_genres = measured("genres")
    _, by_ratings = measured("ratings")
    assert by_genres.genre_diversity > by_vectors.genre_diversity > 0
    assert by_genres.genre_diversity > plain.genre_diversity
    assert by_ratings.diversity > plain.diversity
    assert by_vectors.vector_diversity > plain.vector_diversity
    _, most = measured("genres", tradeoff=1.0)
    assert most.genre_diversity >= by_genres.genre_diversity
    with pytest.raises(ValueError):
        measured("posters")


def test_the_measured_diversity_is_evaluate_recommenders_over_rating_vectors():
    """The bench's diversity is the figure evaluate_recommender reports: 1 − co-raters / √(n_i n_j)
    of the titles' training raters, averaged over a list's pairs (worked out by hand here)."""
    side = ControlsSide(
        ids=np.arange(4),
        factors=np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.7, 0.3]]),
        support=np.array([2, 2, 2, 1]),
        popularity=np.zeros(4),
        popularity_weight=0.0,
    )
    # Raters: titles 0 and 1 by users 0 and 1 (cosine 1), title 2 by users 2 and 3, title 3 by user 3
    # (cosine 1/√2); no other pair shares a rater.
    train_users, train_items = np.array([0, 1, 0, 1, 2, 3, 3]), np.array([0, 0, 1, 1, 2, 2, 3])
    (plain,) = controls_measure(
        side,
        np.array([10]),
        np.array([[1.0, 0.0]]),
        train_users,
        train_items,
        np.array([10]),
        np.array([0]),
        [RankingControls()],
    )
    assert plain.users == 1 and plain.precision_at_10 == pytest.approx(0.1)
    assert plain.diversity == pytest.approx((0 + 1 + 1 + 1 + 1 + (1 - 1 / np.sqrt(2))) / 6)
    assert plain.vector_diversity == pytest.approx(intra_list_diversity(side.factors))


# --- saved settings -----------------------------------------------------------------------------


def test_controls_are_saved_per_member_and_bad_values_save_nothing(world, user_factory):
    one, other = user_factory(), user_factory()
    assert controls_for_user(user=one) == RankingControls()
    controls_save(user=one, controls=RankingControls(discovery=5, variety=True, hide_before=1970, hide_genre="Horror"))
    assert controls_for_user(user=one) == RankingControls(5, True, 1970, "Horror")
    assert controls_for_user(user=other) == RankingControls()
    for bad in (RankingControls(discovery=9), RankingControls(hide_before=1200)):
        with pytest.raises(ValidationError):
            controls_save(user=one, controls=bad)
    assert controls_for_user(user=one) == RankingControls(5, True, 1970, "Horror")


# --- the page ---------------------------------------------------------------------------------------


def test_discovery_moves_the_list_towards_less_rated_titles(world, member, client):
    client.force_login(member)
    support = dict(TitleFactor.objects.filter(run=world["run"]).values_list("title_id", "support"))
    crowd = _ranked(client.get(URL, {"discovery": 1}).content.decode())
    balanced = _ranked(client.get(URL, {"discovery": 3}).content.decode())
    gems = _ranked(client.get(URL, {"discovery": 5}).content.decode())
    assert crowd and gems and len({tuple(crowd), tuple(balanced), tuple(gems)}) == 3
    assert mean(support[tconst] for tconst in balanced[:10]) < mean(support[tconst] for tconst in crowd[:10])
    # Hidden gems skip titles with too little evidence.
    assert min(support[tconst] for tconst in gems) >= 5


def test_hiding_a_genre_and_old_titles(world, member, client):
    client.force_login(member)
    shown = _ranked(client.get(URL, {"discovery": 3, "hide_genre": "Action", "hide_before": 1980}).content.decode())
    assert shown
    for tconst in shown:
        title = world["by_tconst"][tconst]
        assert "Action" not in title.genres and title.start_year >= 1980


def test_variety_reorders_the_list_for_more_diverse_titles(world, member, client):
    client.force_login(member)
    model = run_model_get(run=active_run())
    plain = _ranked(client.get(URL).content.decode())[:10]
    varied = _ranked(client.get(URL, {"discovery": 3, "variety": 1}).content.decode())[:10]
    assert varied[0] == plain[0] and varied != plain

    def diversity(tconsts):
        return intra_list_diversity(model.factors[[model.index[tconst] for tconst in tconsts]])

    assert diversity(varied) > diversity(plain)
    # The switch re-ranks the member's own best titles: the n-th shown is among the plain list's
    # first n + VARIETY_WINDOW, and it is the greedy order of that list.
    state = user_state_get(user=member, run=active_run(), model=model)
    ranking = [item.tconst for item in ranked_titles(model=model, vectors=state.vectors, excluded=state.excluded)]
    assert all(ranking.index(tconst) < n + 1 + VARIETY_WINDOW for n, tconst in enumerate(varied))
    head = ranking[: len(varied) + VARIETY_WINDOW]
    rows = [model.index[tconst] for tconst in head]
    scores = model.factors[rows] @ state.vectors.factors + model.popularity[rows]
    if state.vectors.content is not None:
        scores = scores + state.vectors.content[rows]
    assert [head[n] for n in variety_order(scores, model.factors[rows], len(varied))] == varied


def test_variety_after_a_rating_is_the_live_fold_ins_list(world, member, client):
    """Just after a rating the page folds the member in: with variety on it shows the varied list of
    the new vectors, not the run's."""
    client.force_login(member)
    before = _ranked(client.get(URL, {"discovery": 3, "variety": 1}).content.decode())
    rating_set(user=member, title=world["by_tconst"][before[0]], score=1)
    shown = _ranked(client.get(URL, {"discovery": 3, "variety": 1}).content.decode())
    run = active_run()
    model = run_model_get(run=run)
    state = user_state_get(user=member, run=run, model=model)
    assert state.vectors.source != "run" and before[0] not in shown
    live = ranked_titles(
        model=model, vectors=state.vectors, excluded=state.excluded, controls=RankingControls(variety=True)
    )
    assert shown == [item.tconst for item in live][: len(shown)]
    plain = ranked_titles(model=model, vectors=state.vectors, excluded=state.excluded)
    assert shown != [item.tconst for item in plain][: len(shown)]


def test_controls_are_kept_by_post_shown_in_the_url_and_the_profile(world, member, client):
    client.force_login(member)
    plain = _ranked(client.get(URL).content.decode())
    response = client.post(CONTROLS_URL, {"discovery": "5", "variety": "1", "hide_genre": "Horror", "genre": "Drama"})
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(URL) and "discovery=5" in location and "variety=1" in location
    assert "hide_genre=Horror" in location and "genre=Drama" in location
    saved = RecommendationControls.objects.get(user=member)
    assert (saved.discovery, saved.variety, saved.hide_before, saved.hide_genre) == (5, True, None, "Horror")
    # The plain URL now uses the saved controls: the same list as the URL with them.
    with_saved = _ranked(client.get(URL).content.decode())
    assert with_saved != plain
    assert with_saved == _ranked(
        client.get(URL, {"discovery": 5, "variety": 1, "hide_genre": "Horror"}).content.decode()
    )
    # A link with other controls shows them without saving them.
    body = client.get(URL, {"discovery": 3, "variety": 0}).content.decode()
    assert _ranked(body) == plain and "come from the link" in body
    assert RecommendationControls.objects.get(user=member).discovery == 5
    # The profile shows them and its form posts to the same place.
    profile = client.get("/accounts/profile/").content.decode()
    assert "Hidden gems, more variety, hiding Horror" in profile and 'action="/recommendations/controls/"' in profile
    # Another member's settings are their own.
    assert not RecommendationControls.objects.filter(user_id=world["users"][1].pk).exists()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"discovery": "9"}, "Discovery"),
        ({"discovery": "3", "hide_before": "abc"}, "Hide titles before"),
        ({"discovery": "3", "hide_genre": "<script>"}, "Hide genre"),
    ],
)
def test_a_refused_post_saves_nothing_and_says_why(world, member, client, data, message):
    client.force_login(member)
    response = client.post(CONTROLS_URL, data, follow=True)
    assert response.status_code == 200
    body = response.content.decode()
    notes = body.split('class="messages"', 1)[1].split("</ul>", 1)[0]
    assert "Your settings were not saved" in notes and message in notes and "<script>" not in notes
    assert not RecommendationControls.objects.filter(user=member).exists()


@pytest.mark.parametrize(
    "params",
    [
        {"discovery": "9"},
        {"discovery": "x"},
        {"hide_before": "1200"},
        {"hide_genre": "<script>"},
        {"page": "abc"},
        {"page": "999"},
        {"year_min": "abc"},
    ],
)
def test_refused_url_values_are_reported_and_never_cached(world, member, client, params):
    client.force_login(member)
    client.get(URL)  # the plain page's entry
    before = _page_keys()
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(URL, params)
        assert response.status_code == 200
        assert any("catalog_title" in query["sql"] for query in queries), "rendered, not served from a cache"
    assert _page_keys() == before
    assert "<script>" not in response.content.decode().split('id="h-controls"', 1)[1].split("</form>", 1)[0]
    assert _ranked(response.content.decode())


def test_unknown_parameters_share_the_plain_pages_cache_entry(world, member, client):
    client.force_login(member)
    client.get(URL)
    before = _page_keys()
    with CaptureQueriesContext(connection) as queries:
        client.get(URL, {"utm_source": "x", "junk": "1" * 200})
    assert not any("catalog_title" in query["sql"] for query in queries), "served from the plain page's entry"
    assert _page_keys() == before


def test_controls_apply_identically_to_the_runs_vectors_and_a_fold_in(world, member):
    """The page ranks every title from the member's vectors, whichever they are: the run's own
    (the Spark job's fold-in) or one made now from the same ratings."""
    run = active_run()
    model = run_model_get(run=run)
    state = user_state_get(user=member, run=run, model=model)
    assert state.vectors.source == "run"
    ratings, excluded = user_ratings_and_exclusions(user=member)
    folded = user_vectors_solve(model=model, ratings=ratings)
    controls = RankingControls(discovery=4, variety=True, hide_genre="Drama", hide_before=1960)
    from_run = ranked_titles(model=model, vectors=state.vectors, excluded=excluded, controls=controls, limit=30)
    from_fold_in = ranked_titles(model=model, vectors=folded, excluded=excluded, controls=controls, limit=30)
    assert [item.tconst for item in from_run] == [item.tconst for item in from_fold_in]
    # And neutral controls give the run's own stored list.
    neutral = ranked_titles(model=model, vectors=state.vectors, excluded=excluded, limit=20)
    stored = Recommendation.objects.filter(run=run, user=member).order_by("rank").values_list("title_id", flat=True)
    assert [item.tconst for item in neutral] == list(stored[:20])

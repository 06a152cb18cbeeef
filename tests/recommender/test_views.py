"""The recommendations page and the staff models page, through the Django test client."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import User
from ratings.services import not_interested_add, rating_set, watchlist_add
from recommender.models import Recommendation, UserFactor, UserFoldIn
from tests.recommender.recsys_factories import PERSONAS

# Every test only reads the world or writes inside its own transaction: one world for the module.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("world_module")]

URL = "/recommendations/"


@pytest.fixture
def member(world):
    """A synthetic user of the run, made a site user so they can log in."""
    user = world["users"][0]
    User.objects.filter(pk=user.pk).update(kind=User.Kind.SITE)
    return User.objects.get(pk=user.pk)


def _ranked_tconsts(html: str) -> list[str]:
    return re.findall(r'class="card rec-card" data-tconst="(tt\d+)"', html)


def test_urls_are_the_stable_ones():
    assert reverse("recommender:recommendations") == URL
    assert reverse("recommender:onboarding") == "/onboarding/"
    assert reverse("recommender:community_list") == "/communities/"
    assert reverse("recommender:community_detail", args=[3]) == "/communities/3/"
    assert reverse("recommender:similar_titles", args=["tt0000001"]) == "/titles/tt0000001/similar/"


def test_anonymous_users_are_sent_to_log_in(client, db):
    for url in (URL, "/onboarding/", "/system/models/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.post(reverse("recommender:recommendations_refresh")).status_code == 302


def test_staff_page_is_staff_only(world, client, user_factory, staff_user):
    client.force_login(user_factory(kind=User.Kind.SITE))
    assert client.get("/system/models/").status_code == 403
    client.force_login(staff_user)
    page = client.get("/system/models/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Model quality over time" in body and "precision@10 against the most-popular baseline" in body
    assert f"#{world['run'].pk}" in body and body.count("<svg") >= 3


def test_the_page_shows_the_runs_list_with_everything_a_card_needs(world, member, client):
    client.force_login(member)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    expected = list(
        Recommendation.objects.filter(run=world["run"], user=member)
        .order_by("rank")
        .values_list("title_id", flat=True)[:20]
    )
    assert _ranked_tconsts(body) == expected
    first = Recommendation.objects.get(run=world["run"], user=member, rank=1)
    title = world["by_tconst"][first.title_id]
    card = body.split(f'data-tconst="{title.tconst}"', 1)[1].split("</li>", 1)[0]
    assert title.primary_title in card and str(title.start_year) in card and title.genres[0] in card
    assert f"Predicted {first.predicted_rating:.1f}★" in card
    assert re.search(r"(high|medium|low) confidence", card)
    assert str(title.average_rating) in card
    assert "Because you rated" in card
    assert f'action="/titles/{title.tconst}/rate/"' in card
    assert f'action="/titles/{title.tconst}/watchlist/"' in card
    assert f'action="/titles/{title.tconst}/not-interested/"' in card
    assert "Run #" not in body  # staff only
    # Constant work per page: no query per card.
    assert len(queries) <= 16, [query["sql"][:80] for query in queries]


def test_staff_see_the_run_the_list_came_from(world, client, staff_user):
    rating_set(user=staff_user, title=world["titles"][0], score=5)
    for title in world["titles"][1:5]:
        rating_set(user=staff_user, title=title, score=4)
    client.force_login(staff_user)
    assert f"Run #{world['run'].pk}" in client.get(URL).content.decode()


def test_rating_on_the_page_changes_the_list_on_the_next_view(world, member, client):
    client.force_login(member)
    before = _ranked_tconsts(client.get(URL).content.decode())
    assert client.post(f"/titles/{before[0]}/rate/", {"score": "1"}).status_code == 302
    body = client.get(URL).content.decode()
    after = _ranked_tconsts(body)
    assert before[0] not in after and after != before[1:21]
    assert "updated just now" in body
    assert not UserFoldIn.objects.get(user=member).stale


def test_not_interested_removes_the_title(world, member, client):
    client.force_login(member)
    first = _ranked_tconsts(client.get(URL).content.decode())[0]
    not_interested_add(user=member, title=world["by_tconst"][first])
    assert first not in _ranked_tconsts(client.get(URL).content.decode())


def test_filters_and_pagination(world, member, client):
    client.force_login(member)
    body = client.get(URL, {"genre": "Horror", "type": "movie"}).content.decode()
    shown = _ranked_tconsts(body)
    assert shown
    for tconst in shown:
        assert "Horror" in world["by_tconst"][tconst].genres and world["by_tconst"][tconst].title_type == "movie"
    page_one = _ranked_tconsts(client.get(URL).content.decode())
    page_two = _ranked_tconsts(client.get(URL, {"page": 2}).content.decode())
    assert len(page_one) == 20 and page_two and not set(page_one) & set(page_two)
    assert 'rel="next"' in client.get(URL).content.decode()


@pytest.mark.parametrize(
    "params, message",
    [
        ({"year_min": "abc"}, "Enter a whole number"),
        ({"year_min": "2000", "year_max": "1990"}, "must not be after"),
        ({"genre": "<script>"}, "Select a valid choice"),
    ],
)
def test_bad_filters_are_reported_and_the_list_still_shows(world, member, client, params, message):
    client.force_login(member)
    response = client.get(URL, params)
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body and "<script>" not in body.split("</header>", 1)[1].split("Select a valid")[0]
    assert len(_ranked_tconsts(body)) == 20


def test_refresh_recomputes_at_once_and_needs_csrf(world, member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    assert client.post(reverse("recommender:recommendations_refresh")).status_code == 403
    page = client.get(URL)
    token = page.cookies["csrftoken"].value
    response = client.post(
        reverse("recommender:recommendations_refresh"),
        {"csrfmiddlewaretoken": token, "query": "genre=Drama"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"{URL}?genre=Drama"
    assert "Recomputed from your 14 ratings" in response.content.decode()
    assert UserFoldIn.objects.get(user=member).run_id == world["run"].pk
    assert client.get(reverse("recommender:recommendations_refresh")).status_code == 405


def test_refresh_does_not_redirect_elsewhere(world, member, client):
    client.force_login(member)
    response = client.post(reverse("recommender:recommendations_refresh"), {"query": "//evil.example/"})
    assert response["Location"] == URL


def test_below_the_threshold_the_page_is_the_cold_start_fallback(world, client, user_factory):
    user = user_factory(kind=User.Kind.SITE, favourite_genres=["Comedy"])
    rating_set(user=user, title=[t for t in world["titles"] if "Comedy" in t.genres][0], score=5)
    client.force_login(user)
    body = client.get(URL).content.decode()
    assert "Rate 4 more titles to unlock your recommendations" in body
    assert "Popular in your genres" in body and 'href="/onboarding/"' in body
    assert _ranked_tconsts(body) == []


def test_profile_partials_render_for_the_user(world, member, client):
    from recommender.communities.storing import communities_build

    communities_build(run=world["run"])
    client.force_login(member)
    from django.test import RequestFactory

    from recommender.providers import quality_section, taste_section

    request = RequestFactory().get("/accounts/profile/")
    request.user = member
    taste = str(taste_section(request=request))
    assert "Your taste community" in taste and "/communities/" in taste
    quality = str(quality_section(request=request))
    assert "How well our predictions matched" in quality and "Nothing to compare yet" in quality
    assert PERSONAS  # the fixture's personas give the community its name


def test_the_cached_list_follows_every_change(world, member, client):
    """A repeat view is served from the cache, but a watchlist add (which does not mark the user
    stale), a rating or other filters never show a stale list."""
    client.force_login(member)
    first = client.get(URL).content.decode()
    with CaptureQueriesContext(connection) as queries:
        again = client.get(URL).content.decode()
    assert _ranked_tconsts(again) == _ranked_tconsts(first)
    assert not any("catalog_title" in query["sql"] for query in queries), "served from the cache"
    # session, user, the active run (the choices the parameters are validated against), the saved
    # controls, the fingerprint
    assert len(queries) <= 5, [query["sql"][:60] for query in queries]

    top = _ranked_tconsts(again)[0]
    watchlist_add(user=member, title=world["by_tconst"][top])
    assert top not in _ranked_tconsts(client.get(URL).content.decode())
    second = _ranked_tconsts(client.get(URL).content.decode())[0]
    rating_set(user=member, title=world["by_tconst"][second], score=2)
    assert second not in _ranked_tconsts(client.get(URL).content.decode())
    filtered = _ranked_tconsts(client.get(URL, {"genre": "Comedy"}).content.decode())
    assert all("Comedy" in world["by_tconst"][tconst].genres for tconst in filtered)


def test_page_one_suggests_titles_loved_in_neighbouring_communities(world, member, client):
    from recommender.communities.selectors import community_neighbours
    from recommender.communities.storing import communities_build

    communities_build(run=world["run"])
    client.force_login(member)
    body = client.get(URL).content.decode()
    assert "Discover: loved next door" in body
    mine = UserFactor.objects.get(run=world["run"], user=member).community
    neighbours = community_neighbours(community=mine)
    assert neighbours[0].name.replace("&", "&amp;") in body
    discover = body.split('id="h-discover"', 1)[1]
    suggested = re.findall(r'<li class="card" data-tconst="(tt\d+)"', discover)
    assert suggested
    on_page = set(_ranked_tconsts(body))
    rated = set(member.ratings.values_list("title_id", flat=True))
    assert not set(suggested) & (on_page | rated)
    assert "h-discover" not in client.get(URL, {"page": 2}).content.decode()


def test_confidence_labels_follow_the_runs_measured_buckets(world, member, client):
    from recommender.serving.cards import confidence_label, confidence_thresholds

    run = world["run"]
    assert confidence_thresholds(run) == (2 / 3, 1 / 3)  # no buckets recorded: the training's thirds
    run.metrics["confidence_buckets"] = [
        {"confidence": "low", "range": [0.0, 0.2], "hit_rate": 0.04, "mae": 1.1},
        {"confidence": "medium", "range": [0.2, 0.5], "hit_rate": 0.12, "mae": 0.9},
        {"confidence": "high", "range": [0.5, 1.0], "hit_rate": 0.31, "mae": 0.7},
    ]
    run.save(update_fields=["metrics"])
    assert confidence_thresholds(run) == (0.5, 0.2)
    assert [confidence_label(value, (0.5, 0.2)) for value in (0.1, 0.2, 0.49, 0.5)] == [
        "low",
        "medium",
        "medium",
        "high",
    ]
    client.force_login(member)
    body = client.get(URL).content.decode()
    assert "31% of high-confidence suggestions" in body and "against 4% of low-confidence ones" in body
    shown = re.findall(r'title="Confidence (\d+)%[^"]*">· (\w+) confidence', body)
    assert len(shown) == 20
    for percent, label in shown:
        if min(abs(int(percent) - 50), abs(int(percent) - 20)) > 1:  # the page rounds to whole percents
            assert label == confidence_label(int(percent) / 100, (0.5, 0.2))


def _without_csrf(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


def test_stamped_card_actions_equal_a_real_render_of_each_card(world, member, rf):
    from django.middleware.csrf import get_token
    from django.template.loader import render_to_string

    from catalog.models import Title
    from recommender.serving import cards
    from recommender.serving.page import recommendation_page_get

    odd = Title.objects.create(
        tconst="tt9100001",
        title_type="movie",
        primary_title='Tom & Jerry: "Live" <3',
        genres=["Comedy"],
        start_year=2001,
        num_votes=10,
    )
    request = rf.get(URL)
    request.user = member
    get_token(request)
    page = recommendation_page_get(user=member)
    page.cards[0].title = odd  # special characters must come out escaped exactly as the template does it
    cards.card_actions_render(page.cards, request=request)
    for card in page.cards:
        real = render_to_string(cards.ACTIONS_TEMPLATE, {"title": card.title}, request=request)
        assert _without_csrf(str(card.actions_html)) == _without_csrf(real)
        assert f'data-tconst="{card.title.tconst}"' in card.actions_html
    assert "Tom &amp; Jerry: &quot;Live&quot; &lt;3" in page.cards[0].actions_html


def test_card_actions_are_rendered_per_card_when_the_partial_cannot_be_stamped(
    world, member, rf, settings, monkeypatch
):
    """If the shared partials ever use more of the title than its id and name, stamping would be
    wrong: the check against a real render sends every card through the template instead."""
    from django.middleware.csrf import get_token

    from recommender.serving import cards
    from recommender.serving.page import recommendation_page_get

    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": settings.TEMPLATES[0]["DIRS"],
            "OPTIONS": {
                "context_processors": settings.TEMPLATES[0]["OPTIONS"]["context_processors"],
                "loaders": [
                    (
                        "django.template.loaders.locmem.Loader",
                        {"test/_actions.html": "{{ title.tconst }}:{{ title.start_year }}"},
                    ),
                    "django.template.loaders.filesystem.Loader",
                    "django.template.loaders.app_directories.Loader",
                ],
            },
        }
    ]
    monkeypatch.setattr(cards, "ACTIONS_TEMPLATE", "test/_actions.html")
    request = rf.get(URL)
    request.user = member
    get_token(request)
    page = recommendation_page_get(user=member)
    cards.card_actions_render(page.cards, request=request)
    assert [str(card.actions_html) for card in page.cards] == [
        f"{card.title.tconst}:{card.title.start_year}" for card in page.cards
    ]


@pytest.mark.parametrize(
    ("title_type", "start_year", "end_year", "runtime_minutes"),
    [
        ("movie", 1942, None, 102),
        ("tvSeries", 1951, 1957, 25),
        ("tvSeries", 2019, None, None),
        ("short", None, None, 7),
    ],
)
def test_a_cards_meta_line_reads_as_the_title_meta_partial(title_type, start_year, end_year, runtime_minutes):
    """The card builds its meta line in Python for speed; it must read as every other page does."""
    from django.template.loader import render_to_string

    from catalog.models import Title
    from recommender.serving.cards import RecommendationCard, card_html

    title = Title(
        tconst="tt0000001",
        primary_title="A Title",
        title_type=title_type,
        start_year=start_year,
        end_year=end_year,
        runtime_minutes=runtime_minutes,
        genres=[],
    )
    card = RecommendationCard(
        title=title, rank=1, score=1.0, predicted_rating=4.0, confidence=0.5, confidence_label="medium"
    )
    meta = re.search(r'<span class="card-meta">(.*?)</span>', card_html(card, title_url=("/titles/", "/"))).group(1)
    assert meta == render_to_string("includes/_title_meta.html", {"title": title}).strip()


def test_junk_parameters_do_not_make_cache_entries(world, member, client, settings):
    """300 requests with ?utm_x=N share the one entry of the plain page; invalid or uncached
    variants (unknown genre, a page beyond the cached ones, year filters) make none."""
    from django.core.cache import cache

    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "recommendations": {"user": "1000/m"}}  # not what is tested

    client.force_login(member)
    prefix = f"recommender:page:v2:{member.pk}:"
    redis = cache._cache.get_client()

    def entries() -> int:
        return sum(1 for _ in redis.scan_iter(match=f"*{prefix}*"))

    base = entries()
    plain = _ranked_tconsts(client.get(URL).content.decode())
    assert entries() == base + 1
    for number in range(300):
        assert _ranked_tconsts(client.get(URL, {"utm_x": number}).content.decode()) == plain
    assert entries() == base + 1
    for params in ({"genre": "NotAGenre"}, {"page": 99}, {"page": "²"}, {"year_min": 1990}, {"type": "x" * 50}):
        assert client.get(URL, params).status_code == 200
    assert entries() == base + 1
    client.get(URL, {"genre": "Comedy", "utm_y": 1})
    client.get(URL, {"genre": "Comedy", "utm_y": 2})
    assert entries() == base + 2

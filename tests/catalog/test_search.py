"""Search: trigram similarity over unaccented primary, original and alternative titles, exact
primary title first, then relevance and popularity; the tiers (rated titles in the search table,
exact titles, the long tail) and their indexes in the query plans."""

import pytest
from django.db import connection
from django.urls import reverse

from catalog.search import title_search, title_search_sql, title_search_tail_sql
from catalog.search_table import title_search_table_rebuild
from ratings.models import Rating
from tests.catalog.imdb_copy import load_titles_for_search
from tests.catalog.test_views import tconsts_in
from tests.factories import make_aka, make_small_catalog, make_title

pytestmark = pytest.mark.django_db

TRIGRAM_INDEXES = ("catalog_title_primary_trgm", "catalog_title_original_trgm", "catalog_titleaka_title_trgm")


@pytest.fixture
def catalog():
    titles = make_small_catalog()
    title_search_table_rebuild()
    return titles


def ranked(query: str) -> list[str]:
    # The importer rebuilds the search table after each load; tests add titles by hand.
    title_search_table_rebuild()
    return [hit.tconst for hit in title_search(query=query)]


def test_exact_title_first_then_popularity_breaks_the_tie(catalog):
    # Two titles are exactly "Casablanca": the film with 637k votes before the 1955 series.
    assert ranked("casablanca")[:3] == ["tt0034583", "tt0047719", "tt0038777"]
    hits = title_search(query="casablanca")
    assert [hit.exact_rank for hit in hits[:3]] == [2, 2, 0]


def test_an_exact_title_beats_a_more_popular_partial_match():
    make_title(primary_title="Alien Nation: The Enemy Within", num_votes=900_000)
    alien = make_title(primary_title="Alien", num_votes=12)
    assert ranked("alien")[0] == alien.tconst


@pytest.mark.parametrize("query", ["CASABLANCA", "  casablanca ", "casablanka", "casablance", "Cassablanca"])
def test_case_spaces_and_small_typos(catalog, query):
    assert ranked(query)[0] == "tt0034583"


@pytest.mark.parametrize("query", ["amelie", "AMÉLIE", "Amelie"])
def test_accents_are_ignored_both_ways(catalog, query):
    hits = title_search(query=query)
    assert hits[0].tconst == "tt0211915"
    assert hits[0].exact_rank == 2


def test_accented_query_finds_unaccented_title():
    plain = make_title(primary_title="Les Miserables", num_votes=10)
    assert ranked("Les Misérables") == [plain.tconst]


def test_original_and_alternative_titles(catalog):
    hits = title_search(query="shichinin no samurai")
    assert hits[0].tconst == "tt0047478" and hits[0].exact_rank == 1
    assert hits[0].matched_title == "Shichinin no samurai"
    hits = title_search(query="die sieben samurai")
    assert hits[0].tconst == "tt0047478" and hits[0].matched_title == "Die sieben Samurai"
    assert ranked("les sept samourais")[0] == "tt0047478"
    assert ranked("fabelhafte welt der amelie")[0] == "tt0211915"
    assert ranked("καζαμπλάνκα")[0] == "tt0034583"


def test_words_inside_a_longer_title(catalog):
    wizard = make_title(primary_title="The Wonderful Wizard of Oz", num_votes=1765)
    make_title(primary_title="The Wizard of Arts", num_votes=37)
    assert ranked("wizard of oz")[0] == wizard.tconst
    assert "tt0038777" in ranked("night casablanca")


def test_a_title_matched_several_ways_is_listed_once(catalog):
    make_aka("tt0034583", "Casablanca", region="DE", ordering=9)
    tconsts = ranked("casablanca")
    assert len(tconsts) == len(set(tconsts))


def test_adult_and_removed_titles_are_not_found():
    from django.utils import timezone

    make_title(primary_title="Casablanca Nights", is_adult=True)
    make_title(primary_title="Casablanca Express", removed_at=timezone.now())
    assert ranked("casablanca") == []


@pytest.mark.parametrize(
    "query", ["zzzzqqqq", "%", "_", "'; DROP TABLE catalog_title; --", "\\", "a" * 500, "🎬", "%(query)s", "{needle}"]
)
def test_odd_queries_are_harmless(catalog, query):
    ranked(query)  # no error, no injection
    assert ranked("casablanca")[0] == "tt0034583"


# Each tier of the search is one statement after one set_config; in tests its transaction is a
# savepoint (two more statements) and the settings are read before and put back after (two more).
# Three tiers at most, then one query for the titles of the page.
SEARCH_QUERIES = 3 * 6 + 1
# The first page searches people too: one more statement after its set_config, in a savepoint.
PEOPLE_SEARCH_QUERIES = 6


def test_search_page(client, catalog, django_assert_max_num_queries):
    with django_assert_max_num_queries(SEARCH_QUERIES + PEOPLE_SEARCH_QUERIES):
        response = client.get(reverse("catalog:search"), {"q": "casablanka"})
    assert response.status_code == 200
    html = response.content.decode()
    assert tconsts_in(html)[:3] == ["tt0034583", "tt0047719", "tt0038777"]
    assert "Results for “casablanka”" in html
    response = client.get(reverse("catalog:search"), {"q": "die sieben samurai"})
    assert "matched <em>Die sieben Samurai</em>" in response.content.decode()


def test_search_page_empty_and_no_results(client, catalog):
    html = client.get(reverse("catalog:search")).content.decode()
    assert "Search titles" in html and tconsts_in(html) == []
    html = client.get(reverse("catalog:search"), {"q": "xqzxqzxqz"}).content.decode()
    assert "No title looks like" in html


def test_search_page_paginates_and_shows_member_ratings(client, user_factory, django_assert_max_num_queries):
    titles = [make_title(primary_title=f"Casablanca {n}", num_votes=1000 - n) for n in range(25)]
    title_search_table_rebuild()
    member = user_factory()
    Rating.objects.create(user=member, title=titles[21], score=3)
    client.force_login(member)
    first = client.get(reverse("catalog:search"), {"q": "casablanca"}).content.decode()
    # + the people (searched on every page, shown on the first) + session, user, the member's
    # ratings, the active run (predicted stars)
    with django_assert_max_num_queries(SEARCH_QUERIES + PEOPLE_SEARCH_QUERIES + 4):
        second = client.get(reverse("catalog:search"), {"q": "casablanca", "page": 2}).content.decode()
    assert 'href="?q=casablanca&amp;page=2"' in first
    assert len(tconsts_in(first)) == 20 and len(tconsts_in(second)) == 5
    assert set(tconsts_in(first)) | set(tconsts_in(second)) == {title.tconst for title in titles}
    assert f"Your rating of {titles[21].primary_title}: 3 of 5" in second


def _plan(query: str, statement=title_search_sql, **kwargs) -> str:
    sql, params = statement(query=query, **kwargs)
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('enable_seqscan', 'off', true)")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


EXACT_INDEXES = ("catalog_title_primary_exact", "catalog_title_original_exact", "catalog_titleaka_title_exact")


@pytest.mark.parametrize("query", ["casablanca", "wizard of oz", "love", "m"])
def test_each_tier_uses_its_indexes(catalog, query):
    # A handful of rows makes a sequential scan cheaper; the search forbids it, as here.
    plan = _plan(query)  # tier 1a (popular titles) and tier 2 (exact titles)
    assert "Bitmap Index Scan on catalog_titlesearch_name_trgm " in plan, plan
    for index in EXACT_INDEXES:  # a plain or a bitmap index scan, as the estimates say
        assert index in plan, plan
    assert "Seq Scan" not in plan, plan
    plan = _plan(query, tier="rated")  # tier 1b: the other rated titles
    assert "Bitmap Index Scan on catalog_titlesearch_name_trgm_rated" in plan, plan
    assert "catalog_title_primary_exact" not in plan, plan
    if query != "m":
        plan = _plan(query, title_search_tail_sql)  # tier 3: every title and aka
        for index in TRIGRAM_INDEXES:
            assert f"Bitmap Index Scan on {index}" in plan, plan
        operator = "%" if query == "love" else "%>"
        assert f"(imdbrec_unaccent(primary_title) {operator} 'love'" in plan or query != "love", plan


@pytest.mark.parametrize("query", ["m", "Up", "RAN"])
def test_short_queries_put_the_exact_title_first_then_popular_titles_starting_with_it(catalog, query):
    exact = {
        "m": make_title(primary_title="M", num_votes=178_604),
        "up": make_title(primary_title="Up", num_votes=1_100_000),
        "ran": make_title(primary_title="Ran", original_title="乱", num_votes=140_000),
    }[query.lower()]
    famous = make_title(primary_title=f"{query.lower()}xyz Returns", num_votes=2_000_000)
    obscure = make_title(primary_title=f"{query.lower()}xyz Again", num_votes=7)
    unrated = make_title(primary_title=f"{query.lower()}xyz Forever", num_votes=0)
    hits = ranked(query)
    assert hits[0] == exact.tconst
    assert hits.index(famous.tconst) < hits.index(obscure.tconst)
    assert unrated.tconst not in hits  # only rated titles are matched by their start


def test_a_search_past_its_time_budget_answers_with_exact_titles(catalog, monkeypatch, caplog):
    from catalog import search

    slow = search._SEARCH_SQL.replace(
        " WHERE NOT t.is_adult", " WHERE (SELECT 1 FROM pg_sleep(0.5)) = 1 AND NOT t.is_adult"
    )
    assert slow != search._SEARCH_SQL
    monkeypatch.setattr(search, "_SEARCH_SQL", slow)
    hits = title_search(query="casablanca", timeout_ms=100)
    assert [hit.tconst for hit in hits] == ["tt0034583", "tt0047719"]  # the exact titles only
    assert "answering with exact titles" in caplog.text
    assert title_search(query="casablanka", timeout_ms=100) == []  # no exact title: nothing, no error
    # The time budget ended with the search's transaction.
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


@pytest.mark.shared_data
@pytest.mark.slow
def test_search_on_the_real_imdb_sample(shared_data, client):
    counts = load_titles_for_search(shared_data / "imdb-sample")
    assert counts["titles"] == 50_001 and counts["akas"] == 50_001
    assert ranked("casablanca")[0] == "tt0034583"  # Casablanca (1942), before the 1955 series
    assert ranked("casablanka")[0] == "tt0034583"
    assert ranked("citzen kane")[0] == "tt0033467"
    assert ranked("seven samurai")[0] == "tt0047478"
    assert ranked("la regle du jeu")[0] == "tt0031885"  # The Rules of the Game, by its French aka
    assert ranked("wizard of oz")[0] == "tt0032138"  # the 1939 film, not the 1925 or 1933 ones
    plan = _plan("casablanca")
    print("\nEXPLAIN of the search for 'casablanca' on the IMDb sample:\n" + plan)
    assert "Bitmap Index Scan on catalog_titlesearch_name_trgm" in plan, plan
    html = client.get(reverse("catalog:search"), {"q": "casablanca"}).content.decode()
    assert tconsts_in(html)[0] == "tt0034583"


def test_repeated_words_are_searched_once(db):
    from catalog.search import SEARCH_MAX_WORDS, _search_normalise

    assert _search_normalise("a b " * 50) == "a b"
    assert _search_normalise("Tora! Tora! Tora!") == "Tora!"
    assert len(_search_normalise(" ".join(f"w{n}" for n in range(40))).split()) == SEARCH_MAX_WORDS
    make_title(tconst="tt0000701", primary_title="Casablanca", num_votes=500)
    assert [hit.tconst for hit in title_search(query="casablanca " * 30)] == ["tt0000701"]


@pytest.mark.django_db(transaction=True)
def test_search_inside_a_transaction_on_a_fresh_connection():
    """pg_trgm's settings are unknown to a session until the extension's library is loaded: the
    search, which saves and restores them inside an outer transaction, must read them with
    missing_ok (bench/catalog_pages.py runs every page inside transaction.atomic)."""
    from django.db import transaction

    title = make_title(primary_title="Casablanca", num_votes=500_000)
    connection.close()  # the next statement opens a new session, pg_trgm not loaded in it
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            before = cursor.fetchone()[0]
        assert title.tconst in [hit.tconst for hit in title_search(query="casablanca")]
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == before  # the search's budget did not outlive it

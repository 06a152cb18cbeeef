"""The search at full size: the search table (rated titles' distinct folded names, most voted
first), the tiers and when each runs, the tail's time budget, and the importer's rebuild."""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from catalog import search
from catalog.models import ImportRun
from catalog.search import person_search, person_search_sql, search_run, title_search_run
from catalog.search_table import SEARCH_TABLE, title_search_table_rebuild
from tests.catalog.importing_helpers import SAMPLE_DIR
from tests.factories import make_aka, make_person, make_title

pytestmark = pytest.mark.django_db


def table_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        # ctid order: the order the heap holds the rows in, which a bitmap scan follows.
        cursor.execute(f"SELECT name, tconst, votes, kind, matched FROM {SEARCH_TABLE} ORDER BY ctid")
        return cursor.fetchall()


def test_the_table_holds_each_rated_titles_distinct_folded_names_most_voted_first():
    amelie = make_title(primary_title="Amélie", original_title="Le fabuleux destin d'Amélie Poulain", num_votes=800)
    make_aka(amelie.tconst, "AMELIE", region="US", ordering=2)  # folds into the primary title's row
    make_aka(amelie.tconst, "Die fabelhafte Welt der Amélie", region="DE", ordering=3)
    make_aka(amelie.tconst, "Gone aka", region="FR", ordering=4, removed_at=timezone.now())
    famous = make_title(primary_title="Famous", num_votes=90_000)
    make_title(primary_title="Nobody Rated Me", num_votes=0)
    make_title(primary_title="Adult", num_votes=5_000, is_adult=True)
    make_title(primary_title="Removed", num_votes=5_000, removed_at=timezone.now())

    result = title_search_table_rebuild()

    rows = table_rows()
    assert result["rows"] == len(rows) == 4
    assert rows[0] == ("famous", famous.tconst, 90_000, 2, "Famous")
    assert sorted(rows[1:]) == [
        ("amelie", amelie.tconst, 800, 2, "Amélie"),
        ("die fabelhafte welt der amelie", amelie.tconst, 800, 1, "Die fabelhafte Welt der Amélie"),
        ("le fabuleux destin d'amelie poulain", amelie.tconst, 800, 1, "Le fabuleux destin d'Amélie Poulain"),
    ]
    # Rebuilt from scratch each time, swapped in under the same name with the same indexes.
    title_search_table_rebuild()
    assert len(table_rows()) == 4
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY 1", [SEARCH_TABLE])
        assert [row[0] for row in cursor.fetchall()] == [
            "catalog_titlesearch_name_trgm",
            "catalog_titlesearch_name_trgm_rated",
        ]


def test_a_common_word_gives_its_most_popular_titles_and_the_exact_title(monkeypatch):
    # Fewer candidates than titles with the word: the scan stops at the most voted ones.
    monkeypatch.setattr(search, "SEARCH_CANDIDATES", 3)
    popular = [make_title(primary_title=f"Love Story {n}", num_votes=50_000 + n) for n in range(3)]
    obscure = [make_title(primary_title=f"Love Song {n}", num_votes=1_000 + n) for n in range(6)]
    exact = make_title(primary_title="Love", num_votes=40)  # obscure, but exactly the query
    title_search_table_rebuild()

    outcome = title_search_run(query="love")

    tconsts = [hit.tconst for hit in outcome.hits]
    assert tconsts[0] == exact.tconst
    assert set(tconsts[1:4]) == {title.tconst for title in popular}
    assert not set(tconsts) & {title.tconst for title in obscure[:3]}


def test_tiers_run_only_when_those_before_found_too_little():
    make_title(primary_title="Casablanca", num_votes=637_000)
    rated = make_title(primary_title="Casablanca Express", num_votes=120)
    unrated = make_title(primary_title="Zanzibar Nightfall", num_votes=0)
    title_search_table_rebuild()

    # A strong match among the popular titles but less than a page: the other rated ones too.
    outcome = title_search_run(query="casablanca")
    assert outcome.tiers == ["rated"] and rated.tconst in [hit.tconst for hit in outcome.hits]
    # Nothing matches well among rated titles: the tail, with a typo, finds the unrated title.
    outcome = title_search_run(query="zanzibar nighfall")
    assert outcome.tiers == ["rated", "tail"] and not outcome.timed_out
    assert [hit.tconst for hit in outcome.hits] == [unrated.tconst]
    # Exact titles are found in any tier, rated or not.
    assert title_search_run(query="Zanzibar Nightfall").hits[0].exact_rank == 2
    # A query of many words stops at the popular and exact titles.
    long_query = "zanzibar nighfall " + " ".join(f"word{n}" for n in range(search.SEARCH_TAIL_MAX_WORDS))
    outcome = title_search_run(query=long_query)
    assert outcome.tiers == [] and outcome.hits == []


def test_a_tail_past_its_budget_keeps_what_the_rated_tiers_found(monkeypatch, caplog):
    lights = make_title(primary_title="Casablanca Lights", num_votes=5_000)
    title_search_table_rebuild()
    slow = search._TAIL_SQL.replace(
        " WHERE NOT t.is_adult", " WHERE (SELECT 1 FROM pg_sleep(0.5)) = 1 AND NOT t.is_adult"
    )
    assert slow != search._TAIL_SQL
    monkeypatch.setattr(search, "_TAIL_SQL", slow)
    monkeypatch.setattr(search, "SEARCH_TAIL_TIMEOUT_MS", 100)

    outcome = title_search_run(query="casablanca moro")  # a weak match only: the tail runs

    assert outcome.tiers == ["rated", "tail"] and outcome.timed_out and not outcome.exact_only
    assert [hit.tconst for hit in outcome.hits] == [lights.tconst]
    assert "tier tail ran out of time" in caplog.text
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


def test_a_long_query_looks_up_people_by_exact_name_only():
    person = make_person(primary_name="Humphrey Bogart")
    long_query = "humphrey bogart " + " ".join(f"word{n}" for n in range(search.PERSON_FUZZY_MAX_WORDS))
    sql, params = person_search_sql(query=long_query)
    assert "%>" not in sql and "catalog_person_name_trgm" not in sql
    assert person_search(query=long_query) == []
    assert person_search(query="humphrey bogart")[0].nconst == person.nconst


def test_the_import_rebuilds_the_search_table_when_titles_or_votes_change():
    out = io.StringIO()
    call_command("import_imdb", "--dir", str(SAMPLE_DIR), stdout=out, stderr=io.StringIO())
    run = ImportRun.objects.latest("created_at")
    assert "search_table_seconds" in run.counts["title.basics"]
    rows = table_rows()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT (lower(public.imdbrec_unaccent(primary_title)), tconst)) FROM catalog_title"
            " WHERE num_votes > 0 AND NOT is_adult AND removed_at IS NULL"
        )
        rated_primary_names = cursor.fetchone()[0]
    assert len([row for row in rows if row[3] == 2]) == rated_primary_names > 100
    # Most voted first; the odd short row fills the end of an earlier page (the free space map).
    votes = [row[2] for row in rows]
    assert votes[0] == max(votes) and sum(a < b for a, b in zip(votes, votes[1:], strict=False)) <= len(votes) // 20
    assert title_search_run(query="casablnca").hits[0].tconst == "tt0034583"

    call_command("import_imdb", "--dir", str(SAMPLE_DIR), stdout=io.StringIO(), stderr=io.StringIO())
    run = ImportRun.objects.latest("created_at")
    assert "search_table_seconds" not in run.counts["title.basics"]  # nothing changed: not rebuilt


def test_a_query_that_names_a_person_well_skips_the_titles_tail():
    bergman = make_person(primary_name="Ingrid Bergman")
    make_title(primary_title="Nothing Alike", num_votes=10)
    title_search_table_rebuild()
    outcome, people = search_run(query="ingrid bergmn")  # a typo of her name, no title like it
    assert people[0].nconst == bergman.nconst
    assert outcome.tiers == ["rated"] and outcome.hits == []
    outcome, people = search_run(query="zanzibar nighfall")  # nobody by that name: the tail runs
    assert people == [] and outcome.tiers == ["rated", "tail"]

"""Content a visitor can trust (issue 21): person pages with crew credits, people in search, no
genre chip or type filter that leads to nothing, home shelves that do not repeat each other —
on the bundled sample, where the reviewer found each problem, and on small made-up catalogues."""

import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from catalog import search, selectors
from catalog.models import Crew
from tests.factories import make_crew, make_person, make_principal, make_small_catalog, make_title

pytestmark = pytest.mark.django_db


@pytest.fixture
def sample():
    call_command("import_imdb", "--dir", "catalog/sample", verbosity=0)


def people_in(html: str) -> list[str]:
    return re.findall(r'<li class="person-result" data-nconst="(nm\d+)">', html)


def test_on_the_sample_curtiz_directed_casablanca_and_hitchcock_is_found(client, sample):
    html = client.get(reverse("catalog:person_detail", args=["nm0002031"])).content.decode()
    # Casablanca (1942) is on one of the pages of his 74 credits, as director.
    pages = [html] + [
        client.get(reverse("catalog:person_detail", args=["nm0002031"]), {"page": page}).content.decode()
        for page in (2,)
    ]
    assert "Director: 74 titles" in html
    assert any(
        re.search(r'<a href="/titles/tt0034583/">Casablanca</a>.*?</td>\s*<td>Director</td>', page, re.S)
        for page in pages
    )
    assert "Credits 1–50 of 74." in html and 'href="?page=2"' in html

    for query in ("hitchcock", "Hitchcock", "hitchcok", "alfred hitchcock"):
        found = client.get(reverse("catalog:search"), {"q": query}).content.decode()
        assert people_in(found)[0] == "nm0000033", query
        assert '<h2 id="h-people">People</h2>' in found and ">Alfred Hitchcock</a>" in found


def test_on_the_sample_home_chips_lead_to_titles_and_shelves_are_disjoint(client, sample):
    html = client.get(reverse("home")).content.decode()
    chips = re.findall(r'class="badge genre-link" href="/titles/\?genre=([^"]+)"', html)
    assert chips and "Drama" in chips and "Film-Noir" in chips
    for empty in ("Game-Show", "Reality-TV", "Talk-Show", "Short"):
        assert empty not in chips
    for chip in chips:
        assert selectors.title_browse(genres=[chip.replace("%2D", "-")]).exists(), chip

    top_rated = html[html.index('id="h-top-rated"') : html.index('id="h-most-voted"')]
    most_voted = html[html.index('id="h-most-voted"') :]
    top, popular = (set(re.findall(r'data-tconst="(tt\d+)"', part)) for part in (top_rated, most_voted))
    assert len(top) == 12 and len(popular) == 12 and not top & popular


def test_person_page_lists_crew_credits_beside_principal_ones(client):
    director = make_person(primary_name="Dora Director", primary_profession=["director", "writer", "actress"])
    directed = make_title(primary_title="Directed Only", start_year=1950)
    both = make_title(primary_title="Wrote and Directed", start_year=1960)
    acted = make_title(primary_title="Acted In", start_year=1940)
    make_crew(directed, director, Crew.Role.DIRECTOR)
    make_crew(both, director, Crew.Role.DIRECTOR)
    make_crew(both, director, Crew.Role.WRITER, ordering=2)
    # title.principals repeats the director: one "Director" credit, not two.
    make_principal(both, director, category="director", ordering=1)
    make_principal(acted, director, category="actress", characters=["Herself"], ordering=1)
    html = client.get(reverse("catalog:person_detail", args=[director.nconst])).content.decode()
    rows = re.findall(r'<a href="/titles/(tt\d+)/">([^<]+)</a>.*?</td>\s*<td>(.*?)</td>', html, re.S)
    assert [(name, credit) for _, name, credit in rows] == [
        ("Wrote and Directed", "Director; Writer"),
        ("Directed Only", "Director"),
        ("Acted In", 'Actress <span class="muted">as Herself</span>'),
    ]
    assert "Director: 2 titles" in html and "Writer: 1 title" in html and "Actress: 1 title" in html


def test_a_big_filmography_is_paged_in_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    person = make_person(primary_name="Prolific")
    for year in range(1900, 1900 + 120):
        make_crew(make_title(primary_title=f"Film {year}", start_year=year), person, Crew.Role.DIRECTOR)
    url = reverse("catalog:person_detail", args=[person.nconst])
    with django_assert_max_num_queries(7):
        first = client.get(url).content.decode()
    last = client.get(url, {"page": 3}).content.decode()
    assert "Film 2019" in first and "Film 1970" in first and "Film 1969" not in first
    assert "Credits 101–120 of 120." in last and "Film 1900" in last and "Film 2019" not in last
    assert client.get(url, {"page": "nonsense"}).status_code == 200


def test_people_search_is_typo_and_accent_tolerant_and_ranks_exact_names_first(client):
    make_small_catalog()
    almodovar = make_person(primary_name="Pedro Almodóvar", primary_profession=["director"])
    make_person(primary_name="Pedro Almodóvar Caballero")
    assert [hit.nconst for hit in search.person_search(query="almodovar")][:1] == [almodovar.nconst]
    assert search.person_search(query="Pedro Almodovar")[0].nconst == almodovar.nconst
    assert search.person_search(query="michael curtis")[0].name == "Michael Curtiz"
    assert search.person_search(query="zzzzqqqq") == []
    # Titles and people on one page; a name only search has no title results but the people.
    html = client.get(reverse("catalog:search"), {"q": "bogart"}).content.decode()
    assert people_in(html) == ["nm0000007"] and "No title looks like" in html
    # People are shown with the first page of titles only.
    html = client.get(reverse("catalog:search"), {"q": "casablanca", "page": 2}).content.decode()
    assert "h-people" not in html


def test_people_search_uses_the_trigram_index(db):
    from django.db import connection

    make_person(primary_name="Alfred Hitchcock")
    sql, params = search.person_search_sql(query="hitchcock")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "catalog_person_name_trgm" in plan


def test_browse_offers_only_genres_and_types_with_titles(client):
    make_small_catalog()
    facets = selectors.browse_facets()
    assert "Drama" in facets.genres and "Western" not in facets.genres
    assert facets.title_types == ["movie", "tvSeries", "tvEpisode"]
    html = client.get(reverse("catalog:title_list")).content.decode()
    assert 'value="Drama"' in html and 'value="Western"' not in html
    assert '<option value="tvSeries"' in html and '<option value="videoGame"' not in html

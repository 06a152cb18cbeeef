"""Pages honest about missing data (issue 17, part 6): a credit whose person is not in the imported
name.basics is counted once as "not in the imported data", never listed by raw id; an empty cast
says the cast is not in the imported files when title.principals stops before the title."""

import pytest
from django.urls import reverse

from catalog.models import Crew, ImportRun
from catalog.selectors import principals_last_number, title_detail
from tests.factories import make_crew, make_person, make_principal, make_title

pytestmark = pytest.mark.django_db


def _page(client, tconst: str) -> str:
    response = client.get(reverse("catalog:title_detail", args=[tconst]))
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def people():
    return [make_person(f"nm90000{n:02d}", primary_name=f"Known Person {n}") for n in range(3)]


def test_writers_not_in_the_imported_data_are_counted_once(client, people):
    title = make_title("tt0034583", primary_title="Casablanca")
    make_crew(title, people[0], Crew.Role.DIRECTOR)
    for ordering, nconst in enumerate(["nm16909158", "nm0258493", "nm0000404"], start=1):
        make_crew(title, nconst, Crew.Role.WRITER, ordering=ordering)
    make_crew(title, people[1], Crew.Role.WRITER, ordering=4)
    detail = title_detail(tconst=title.tconst)
    assert [person.name for person in detail.writers_named] == ["Known Person 1"]
    assert detail.writers_missing == 3 and detail.directors_missing == 0
    html = _page(client, title.tconst)
    assert 'Known Person 1</a> and <span class="muted">3 others not in the imported data</span>' in html
    for nconst in ("nm16909158", "nm0258493", "nm0000404"):
        assert nconst not in html
    assert "(unknown)" not in html


def test_a_credit_list_with_nobody_imported_says_so_without_ids(client):
    title = make_title("tt0034584")
    make_crew(title, "nm7000001", Crew.Role.DIRECTOR)
    make_crew(title, "nm7000002", Crew.Role.WRITER, ordering=1)
    make_crew(title, "nm7000003", Crew.Role.WRITER, ordering=2)
    html = _page(client, title.tconst)
    assert 'Directed by</dt><dd><span class="muted">1 person not in the imported data</span>' in html
    assert 'Written by</dt><dd><span class="muted">2 people not in the imported data</span>' in html
    assert "nm700000" not in html


def test_cast_members_not_imported_are_one_line_with_their_characters(client, people):
    title = make_title("tt0034585")
    make_principal(title, people[0], characters=["Rick Blaine"], ordering=1)
    make_principal(title, "nm8000001", characters=["Captain Louis Renault"], ordering=2)
    make_principal(title, "nm8000002", category="actress", characters=["Yvonne"], ordering=3)
    make_principal(title, "nm8000003", category="composer", job="music by", ordering=4)
    html = _page(client, title.tconst)
    assert "Known Person 0</a>" in html and "as Rick Blaine" in html
    assert html.count("not in the imported data") == 2  # once for the cast, once for the crew
    assert "And 2 people not in the imported data, as Captain Louis Renault; Yvonne" in html
    assert "1 person not in the imported data (Composer — music by)" in html
    assert "nm800000" not in html


def test_an_empty_cast_past_the_imported_principals_is_not_in_the_imported_data(client, people):
    early = make_title("tt0005000")
    make_principal(early, people[0], characters=["Someone"], ordering=1)
    before = make_title("tt0004000")  # inside the imported file's range: IMDb lists nobody
    after = make_title("tt0034583")  # past it: the file stops before this title
    assert principals_last_number() == 5000
    assert title_detail(tconst=after.tconst).principals_not_imported
    assert not title_detail(tconst=before.tconst).principals_not_imported
    assert not title_detail(tconst=early.tconst).principals_not_imported
    html = _page(client, after.tconst)
    assert "The cast is not in the imported data" in html and "No cast listed" not in html
    html = _page(client, before.tconst)
    assert "No cast listed." in html and "not in the imported data" not in html
    # Numbers, not text: an eight-digit title is after every seven-digit one.
    assert title_detail(tconst=make_title("tt10000001").tconst).principals_not_imported


def test_the_coverage_follows_new_principals_and_imports(client, people):
    title = make_title("tt0034583")
    assert principals_last_number() is None  # title.principals never imported
    assert title_detail(tconst=title.tconst).principals_not_imported
    assert "The cast is not in the imported data" in _page(client, title.tconst)
    later = make_title("tt0050000")
    make_principal(later, people[0], ordering=1)
    assert principals_last_number() == 50000  # a new row: not the cached "none"
    assert not title_detail(tconst=title.tconst).principals_not_imported
    assert "No cast listed." in _page(client, title.tconst)
    ImportRun.objects.create(source="test", status=ImportRun.Status.SUCCEEDED)
    assert principals_last_number() == 50000

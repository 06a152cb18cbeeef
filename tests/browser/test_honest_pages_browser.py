"""Headless Chromium (issue 17, parts 4-6): a member sorts their recommendations by predicted stars
and IMDb rating with their controls kept, reads a title page whose writers and cast are partly
missing from the imported files, and a community page whose shares come with their counts.
Screenshots: test-artifacts/screenshots/issue17-*.png (copied to docs/screenshots/issue17/)."""

import re

import pytest

from accounts.models import User
from catalog.models import Crew
from recommender.communities import selectors as community_selectors
from recommender.communities import storing
from tests.browser.conftest import login, screenshot
from tests.factories import make_crew, make_principal, make_small_catalog, make_title
from tests.recommender import recsys_factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "amber-Compass-318"


def _member(users):
    member = users[0]
    User.objects.filter(pk=member.pk).update(kind=User.Kind.SITE)
    member = User.objects.get(pk=member.pk)
    member.set_password(PASSWORD)
    member.save()
    return member


def test_sorts_missing_people_and_community_counts(page, recommender_caches):
    titles = recsys_factories.titles_create()
    users = recsys_factories.persona_users_create(titles=titles)
    run = recsys_factories.numpy_run_train()
    storing.communities_build(run=run)
    member = _member(users)
    page.set_default_timeout(20_000)
    login(page, member, PASSWORD)

    # Sorts: links in the URL, the controls kept, one line on what best match weighs.
    page.goto("/recommendations/?discovery=4&variety=1")
    assert page.locator("nav.rec-sort").is_visible()
    assert "Best match weighs how likely you are to pick a title" in page.locator("nav.rec-sort").inner_text()
    page.click("nav.rec-sort >> text=Predicted stars")
    page.wait_for_url("**sort=stars**")
    assert "discovery=4" in page.url and "variety=1" in page.url
    stars = [
        float(value)
        for value in re.findall(r"Predicted[^\d]*([\d.]+)", page.locator("#recommendation-list").inner_text())
    ]
    assert stars and stars == sorted(stars, reverse=True)
    assert page.locator(".rec-sort-current").inner_text() == "Predicted stars"
    screenshot(page, "issue17-recommendations-sort", full_page=False)
    page.goto("/recommendations/?sort=nonsense")
    assert page.locator(".rec-sort-current").inner_text() == "Best match"

    # The community page: shares with counts, neighbours' titles only when they favour them.
    mine = community_selectors.user_place(user=member, run=run).community
    page.goto(f"/communities/{mine.pk}/")
    text = page.locator("main").inner_text()
    assert "Loved by 0%" not in text and re.search(r"Loved by \d+% here \(\d+ of \d+ members\)", text)
    assert re.search(r"\d+ of \d+ high ratings here · \d+ of \d+ overall", text)
    screenshot(page, "issue17-community")
    page.goto("/recommendations/")
    discover = page.locator("section.discover")
    if discover.count():
        assert re.search(r"Loved by \d+% there \(\d+ of \d+\) vs [\d.]+% in yours", discover.inner_text())
        discover.scroll_into_view_if_needed()
        screenshot(page, "issue17-discover", full_page=False)


def test_a_title_page_with_people_missing_from_the_imported_files(page):
    catalog = make_small_catalog()
    casablanca = catalog["casablanca"]
    for ordering, nconst in enumerate(["nm16909158", "nm0258493"], start=3):
        make_crew(casablanca, nconst, Crew.Role.WRITER, ordering=ordering)
    later = make_title("tt0099990", primary_title="A Title Past the Imported Principals", start_year=1990)
    make_principal(casablanca, "nm0000707", characters=["Sam"], ordering=6)
    page.goto(f"/titles/{casablanca.tconst}/")
    facts = page.locator("#h-facts").locator("xpath=..").inner_text()
    assert "3 others not in the imported data" in facts and "nm16909158" not in page.content()
    cast = page.locator("#h-cast").locator("xpath=..").inner_text()
    assert "And 2 people not in the imported data, as Captain Louis Renault; Sam" in cast
    screenshot(page, "issue17-title-missing-people")
    page.goto(f"/titles/{later.tconst}/")
    assert "The cast is not in the imported data" in page.locator("#h-cast").locator("xpath=..").inner_text()
    screenshot(page, "issue17-title-cast-not-imported", full_page=False)

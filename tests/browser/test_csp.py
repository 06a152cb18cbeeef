"""The Content-Security-Policy in headless Chromium: no violation on any page type, as a visitor, a
member and staff (including the admin and the error pages), with the site's scripts running (a star
rated, a progress bar polled). A listener for ``securitypolicyviolation`` events, installed before
any page script, and the console's CSP messages are the evidence; a control shows that an inline
style attribute is caught."""

import pytest
from django.urls import reverse

from recommender.models import TasteCommunity
from tests.browser.conftest import LAPTOP, screenshot
from tests.browser.test_accessibility import (  # noqa: F401 - fixtures
    _pages,
    axe_world,
    chromium,
    open_page,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__csp.push(`${event.violatedDirective} ${event.blockedURI || ""} ${event.sourceFile || ""}:${event.lineNumber}`);
});
"""


def _watched(page):
    page.context.add_init_script(LISTENER)
    page.csp_console = []
    page.on(
        "console",
        lambda message: page.csp_console.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return page


def _violations(page) -> list[str]:
    """What was reported since the last call (the event list starts afresh with each page load)."""
    found = page.evaluate("() => window.__csp.splice(0)") + page.csp_console
    page.csp_console = []
    return found


def _more_pages(world, role: str) -> dict[str, str]:
    community = TasteCommunity.objects.order_by("number").first()
    extra = {
        "visitor": {
            "password-reset": reverse("password_reset"),
            "not-found": "/no/such/page/",
        },
        "member": {
            "community": reverse("recommender:community_detail", args=[community.pk]) if community else "/",
            "import": reverse("ratings:import"),
            "not-interested": reverse("ratings:not_interested"),
            "password-change": reverse("password_change"),
            "delete": reverse("accounts:delete"),
        },
        "staff": {
            "system": reverse("system:index"),
            "models": reverse("system:models"),
            "admin": reverse("admin:index"),
            "admin-titles": reverse("admin:catalog_title_changelist"),
            "admin-title": reverse("admin:catalog_title_change", args=[world["title"].pk]),
            "admin-runs": reverse("admin:recommender_modelrun_changelist"),
        },
    }
    return extra[role]


def _member_data(world, user_factory) -> dict[str, str]:
    """Pages that need more than the world: the title's members' ratings bars (five members rated
    it), a finished import's report and a queued import's progress bar."""
    from ratings.models import MemberImportRun, Rating

    title = world["title"]
    for number in range(5):
        Rating.objects.get_or_create(user=user_factory(username=f"rater{number}"), title=title, defaults={"score": 4})
    row = {"file": "ratings.csv", "line": 2, "name": title.primary_title, "year": None, "list": "rating"}
    row |= {"stars": 4, "halves": 8, "status": "matched", "tconst": title.tconst, "title": title.primary_title}
    row |= {"title_year": title.start_year, "via_alternative": False, "candidates": []}
    member = world["member"]
    done = MemberImportRun.objects.create(
        user=member,
        file_name="ratings.csv",
        file_kind="imdb",
        status="succeeded",
        rows=[row],
        summary={"kind_name": "IMDb ratings export", "films": 1, "matched": 1, "files": ["ratings.csv"]},
    )
    queued = MemberImportRun.objects.create(
        user=member, file_name="big.csv", file_kind="imdb", status="queued", progress=0.4, summary={"films": 500}
    )
    return {
        "import-report": reverse("ratings:import_run", args=[done.pk]),
        "import-progress": reverse("ratings:import_run", args=[queued.pk]),
    }


def test_no_page_violates_the_content_security_policy(open_page, axe_world, live_server, user_factory):  # noqa: F811
    found, loaded = {}, 0
    extra_member_pages = _member_data(axe_world, user_factory)
    for role, user in (("visitor", None), ("member", axe_world["member"]), ("staff", axe_world["staff"])):
        page = _watched(open_page(LAPTOP, user))
        pages = {**(_pages(axe_world, role) if role != "staff" else {}), **_more_pages(axe_world, role)}
        if role == "member":
            pages |= extra_member_pages
        for name, url in pages.items():
            response = page.goto(url)
            assert response.status in (200, 404), (role, name, url, response.status)
            headers = response.headers
            assert "script-src 'self'" in headers["content-security-policy"], (name, headers)
            page.wait_for_load_state("networkidle")
            loaded += 1
            if violations := _violations(page):
                found[f"{role} {name}"] = violations
            if role == "member" and name == "title":
                # The star control posts with fetch() and swaps in a fragment.
                page.locator("form.stars label").first.click()
                page.wait_for_load_state("networkidle")
                if violations := _violations(page):
                    found[f"{role} {name} after rating"] = violations
            if name in ("for-you", "community", "system", "import-progress", "title"):
                screenshot(page, f"csp-{name}")
        assert page.js_errors == []
    assert loaded >= 28
    assert found == {}, "\n".join(f"{name}: {lines}" for name, lines in found.items())


def test_the_listener_sees_an_inline_style_and_an_inline_script(open_page, db):  # noqa: F811
    """The control: what the policy forbids is reported (so an empty list above means something)."""
    page = _watched(open_page(LAPTOP))
    page.goto("/")
    page.evaluate(
        """() => {
          document.body.insertAdjacentHTML("beforeend", '<div style="color: red">x</div>');
          const script = document.createElement("script");
          script.textContent = "window.__ran = true";
          document.body.append(script);
        }"""
    )
    page.wait_for_timeout(300)
    violations = " ".join(_violations(page))
    assert "style-src" in violations and "script-src" in violations, violations
    assert page.evaluate("() => window.__ran === undefined")

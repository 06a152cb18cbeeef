"""Security headers on every kind of answer: Content-Security-Policy (django-csp), Permissions-Policy,
and the ones Django already set (nosniff, frame DENY, referrer policy, opener policy). The policy
itself is checked in Chromium by tests/browser/test_csp.py; here, that no template brings back
what it forbids."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PAGES = ["/", "/titles/", "/search/?q=x", "/accounts/login/", "/health/", "/no/such/page/"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_every_answer_carries_the_headers(client, path):
    response = client.get(path)
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_rate_limit_page_carries_them_too(client, db, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "search": {"ip": "1/m"}}
    client.get("/search/?q=x")
    response = client.get("/search/?q=x")
    assert response.status_code == 429
    assert "script-src 'self'" in response["Content-Security-Policy"] and response["Permissions-Policy"]


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)


def test_no_template_has_inline_scripts_styles_or_handlers():
    found = []
    for template in sorted((ROOT / "templates").rglob("*.html")):
        text = template.read_text()
        for pattern, what in ((INLINE_SCRIPT, "inline script"), (INLINE_HANDLER, "event handler")):
            found += [f"{template.relative_to(ROOT)}: {what}" for _ in pattern.finditer(text)]
        if 'style="' in text or "<style" in text:
            found.append(f"{template.relative_to(ROOT)}: inline style")
    assert found == []

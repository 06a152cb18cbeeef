"""Account security: password rules, throttled logins, session handling, production settings
(secure cookies, HSTS, ``check --deploy``), and no secrets in the repository."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from accounts.models import User

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "imdbrec.settings.production",
    "SECRET_KEY": "k" * 10 + "-Vq8#mZr2!pX7@wLs9^bN4&hT6*jY1%dF3$gH5" * 2,
}


@pytest.mark.parametrize(
    ("password", "complaint"),
    [
        ("short1!", "too short"),
        ("password123", "too common"),
        ("8437295016", "entirely numeric"),
        ("carefulcat2024", "too similar"),  # the user name is carefulcat
    ],
)
def test_signup_enforces_the_password_validators(db, password, complaint):
    response = Client().post(
        "/accounts/signup/",
        {"username": "carefulcat", "email": "cat@example.com", "password1": password, "password2": password},
    )
    assert response.status_code == 200
    assert complaint in response.content.decode()
    assert not User.objects.filter(username="carefulcat").exists()


def test_repeated_failed_logins_lock_the_account_from_that_address(user_factory, settings):
    user = user_factory(username="target")
    client = Client(REMOTE_ADDR="203.0.113.7")
    for attempt in range(1, settings.AXES_FAILURE_LIMIT + 1):
        response = client.post("/accounts/login/", {"username": "target", "password": f"guess-{attempt}"})
        # The failure that reaches the limit is answered with the lockout page already.
        assert response.status_code == (429 if attempt == settings.AXES_FAILURE_LIMIT else 200), attempt
        assert "_auth_user_id" not in client.session
    # Locked now: even the right password is refused, with the lockout page (429 Too Many Requests).
    response = client.post("/accounts/login/", {"username": "target", "password": user.raw_password})
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # The same account from another address still works: an attacker cannot lock users out globally.
    other = Client(REMOTE_ADDR="198.51.100.4")
    response = other.post("/accounts/login/", {"username": "target", "password": user.raw_password})
    assert response.status_code == 302 and other.session["_auth_user_id"] == str(user.pk)


def test_login_rotates_the_session_and_logout_is_post_only(user_factory):
    user = user_factory(username="rotator")
    client = Client()
    client.get("/accounts/login/")
    client.session.save()
    before = client.session.session_key
    client.post("/accounts/login/", {"username": "rotator", "password": user.raw_password})
    assert client.session.session_key != before  # no session fixation
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code in (200, 302)
    assert "_auth_user_id" not in client.session


def test_session_cookie_is_http_only_and_same_site(user_factory):
    user = user_factory(username="cookie_monster")
    client = Client()
    response = client.post("/accounts/login/", {"username": "cookie_monster", "password": user.raw_password})
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def _production(*code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"}}
    env.update(PRODUCTION_ENV)
    return subprocess.run([sys.executable, *code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_production_settings_are_secure():
    result = _production(
        "-c",
        "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps({"
        "k: getattr(s, k) for k in ('DEBUG', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
        "'SESSION_COOKIE_HTTPONLY', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', "
        "'SECURE_SSL_REDIRECT', 'SECURE_CONTENT_TYPE_NOSNIFF', 'X_FRAME_OPTIONS', "
        "'AUTH_PASSWORD_VALIDATORS', 'AXES_FAILURE_LIMIT', 'MIDDLEWARE')}))",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"] and values["SESSION_COOKIE_HTTPONLY"]
    assert values["SECURE_HSTS_SECONDS"] >= 31536000 and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert (
        values["SECURE_SSL_REDIRECT"] and values["SECURE_CONTENT_TYPE_NOSNIFF"] and values["X_FRAME_OPTIONS"] == "DENY"
    )
    assert len(values["AUTH_PASSWORD_VALIDATORS"]) >= 4 and values["AXES_FAILURE_LIMIT"] <= 10
    assert "axes.middleware.AxesMiddleware" in values["MIDDLEWARE"]
    assert "django.middleware.csrf.CsrfViewMiddleware" in values["MIDDLEWARE"]


def test_check_deploy_is_clean():
    result = _production("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


# --- no secrets in the repository -------------------------------------------------------------

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Stripe key": re.compile(r"\b[sr]k_live_[A-Za-z0-9]{16,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "JSON web token": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
}
# NAME = "literal" / NAME: literal / NAME", "literal" for secret-like names.
ASSIGNED_SECRET = re.compile(
    r"""(?P<name>[A-Z_]*(?:SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY)[A-Z_]*)["']?\s*(?:=|:|,)\s*"""
    r"""(?:env\([^)]*default=)?["'](?P<value>[^"'\s]{8,})["']"""
)
URL_CREDENTIALS = re.compile(r"\b[a-z][a-z0-9+.-]*://(?P<user>[^/:@\s]+):(?P<password>[^@/\s]+)@")
# Values that are visibly not secrets: development/test placeholders, documented as such.
PLACEHOLDER = re.compile(r"insecure|test|example|change-me|changeme|dummy|placeholder|not-for-production|\$\{", re.I)
# The docker-compose Postgres container's password, reachable only on the compose network.
ALLOWED_URL_CREDENTIALS = {("docker-compose.yml", "postgres", "postgres")}
NEVER_TRACKED = re.compile(r"(^|/)(\.env|id_rsa|id_ed25519|.*\.pem|.*\.key|.*\.p12|.*\.pfx)$")


def _tracked_text_files():
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, names.split("\0")):
        path = ROOT / name
        if not path.is_file() or path.suffix in {".gz", ".png", ".jpg", ".parquet"}:
            continue
        try:
            yield name, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue


def test_no_secrets_are_tracked_by_git():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    findings, scanned = [], 0
    for name, text in _tracked_text_files():
        scanned += 1
        if NEVER_TRACKED.search(name):
            findings.append(f"{name}: a key or environment file is tracked")
        for line_number, line in enumerate(text.splitlines(), 1):
            for kind, pattern in SECRET_PATTERNS.items():
                if pattern.search(line):
                    findings.append(f"{name}:{line_number}: {kind}")
            for match in ASSIGNED_SECRET.finditer(line):
                psql_variable = name.endswith(".sql") and ":'" in match.group(0)  # PASSWORD :'site_password'
                if psql_variable:
                    continue
                if not PLACEHOLDER.search(match["value"]) and not name.startswith(("tests/", "bench/")):
                    findings.append(f"{name}:{line_number}: {match['name']} is assigned a literal")
            for match in URL_CREDENTIALS.finditer(line):
                interpolated = match["password"].startswith("${")  # docker-compose: from .env
                if not interpolated and (name, match["user"], match["password"]) not in ALLOWED_URL_CREDENTIALS:
                    findings.append(f"{name}:{line_number}: credentials in a URL")
    assert scanned > 50
    assert not findings, "possible secrets in tracked files:\n" + "\n".join(findings)


def test_the_secret_scanner_finds_what_it_looks_for():
    # The scanner above must be able to fail: each pattern on a made-up specimen (assembled from
    # pieces so that this file itself does not trip the scan).
    specimens = {
        "private key": "-----BEGIN RSA " + "PRIVATE KEY-----",
        "AWS access key": "aws = 'AKIA" + "ABCDEFGHIJKLMNOP'",
        "GitHub token": "token ghp_" + "a1B2" * 9,
        "JSON web token": "eyJ" + "hbGciOiJIUzI1NiJ9." + "eyJ" + "zdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0",
    }
    for kind, text in specimens.items():
        assert SECRET_PATTERNS[kind].search(text), kind
    assert ASSIGNED_SECRET.search("SECRET_KEY = " + '"q8#mZr2!pX7@wLs9bN4"')
    assert ASSIGNED_SECRET.search("DB_PASSWORD: " + '"hunter2hunter2"')
    assert URL_CREDENTIALS.search("redis://admin" + ":s3cret@cache:6379/0")

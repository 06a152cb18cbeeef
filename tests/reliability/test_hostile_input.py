"""Malformed, oversized and malicious input on every form and endpoint: a clear 4xx, nothing
changed, and stored markup never executes (auto-escaping stays on; the escaped form appears).

The hostile strings reach the database the ways they would in life: a title name from an IMDb
file, a user name made outside the sign-up form (synthetic users, the admin), a CSV a user uploads.
"""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import User
from catalog.models import Title
from ratings.models import Rating, WatchlistItem
from ratings.services import rating_set, watchlist_add
from tests.factories import make_person, make_principal, make_title

XSS = '<script>alert("xss")</script><img src=x onerror=alert(1)>'
XSS_RAW_MARKERS = ('<script>alert("xss")', "<img src=x onerror")
XSS_ESCAPED = "&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
SQL_INJECTIONS = (
    "' OR '1'='1",
    "'; DROP TABLE catalog_title; --",
    "1) UNION SELECT password, username FROM accounts_user --",
    "\\'; SELECT pg_sleep(5); --",
    "%' AND 1=CAST((SELECT version()) AS int) --",
)
TEMPLATE_INJECTIONS = ("{{ settings.SECRET_KEY }}", "{% debug %}", "{{ request.user.password }}", "${7*7}")
DB_ERROR_WORDS = ("Traceback", "ProgrammingError", "syntax error at or near", "psycopg2", "DataError")


def assert_no_raw_markup(body: str, where: str):
    for marker in XSS_RAW_MARKERS:
        assert marker not in body, f"unescaped script in {where}"


@pytest.fixture
def hostile_world(db, user_factory):
    """A title, a person and a user whose names are scripts, a rating and a watchlist entry."""
    title = make_title(
        "tt0990001",
        primary_title=XSS,
        original_title=XSS,
        genres=["Drama"],
        average_rating=9.9,
        num_votes=2_000_000,
        start_year=1950,
    )
    person = make_person("nm0990001", primary_name=XSS, known_for_titles=[title.tconst])
    make_principal(title, person, characters=[XSS], job=XSS)
    user = user_factory(username='<b>u</b><script>alert("xss")</script>', favourite_genres=["Drama"])
    rating_set(user=user, title=title, score=5)
    watchlist_add(user=user, title=title)
    client = Client()
    client.force_login(user)
    return {"title": title, "person": person, "user": user, "client": client}


def test_stored_scripts_are_escaped_on_every_page_that_shows_them(hostile_world):
    client, title = hostile_world["client"], hostile_world["title"]
    pages = {
        "/": True,
        "/titles/": True,
        f"/titles/{title.tconst}/": True,
        f"/people/{hostile_world['person'].nconst}/": True,
        "/search/?q=script+alert": True,
        "/me/ratings/": True,
        "/me/watchlist/": True,
        "/me/stats/": False,
        "/accounts/profile/": False,
        "/recommendations/": False,
        "/onboarding/": False,
        f"/titles/{title.tconst}/similar/": True,
    }
    for path, shows_title in pages.items():
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.content.decode()
        assert_no_raw_markup(body, path)
        if shows_title:
            assert XSS_ESCAPED in body, f"{path} should show the title, escaped"
    # The user name is shown in the header of every page, escaped.
    header = client.get("/").content.decode()
    assert "&lt;b&gt;u&lt;/b&gt;&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;" in header


def test_the_ajax_star_fragment_escapes_the_title(hostile_world):
    response = hostile_world["client"].post(
        f"/titles/{hostile_world['title'].tconst}/rate/", {"score": "3"}, HTTP_X_REQUESTED_WITH="XMLHttpRequest"
    )
    assert response.status_code == 200
    assert_no_raw_markup(response.content.decode(), "rate fragment")


def test_signup_refuses_markup_in_user_names(db):
    client = Client()
    response = client.post(
        "/accounts/signup/",
        {
            "username": '<script>alert("x")</script>',
            "email": "a@example.com",
            "password1": "a-Strong-pass-123",
            "password2": "a-Strong-pass-123",
        },
    )
    assert response.status_code == 200 and not User.objects.filter(email="a@example.com").exists()
    body = response.content.decode()
    assert "Enter a valid username" in body
    assert_no_raw_markup(body, "signup")


def test_reflected_input_is_escaped(db):
    client = Client()
    for path in (f"/search/?q={XSS}", f"/titles/?sort={XSS}&genre={XSS}", f"/accounts/login/?next={XSS}"):
        response = client.get(path)
        assert response.status_code in (200, 400), path
        assert_no_raw_markup(response.content.decode(), path)


def test_uploaded_csv_with_scripts_is_reported_escaped(hostile_world):
    client = hostile_world["client"]
    header = (
        "Const,Your Rating,Date Rated,Title,URL,Title Type,IMDb Rating,Runtime (mins),Year,Genres,Num Votes,"
        "Release Date,Directors"
    )
    unmatched = f'tt7654321,8,2023-06-01,"{XSS.replace(chr(34), chr(34) * 2)}",https://x/,Movie,7,90,1999,Drama,1,,'
    response = client.post(
        "/me/import/",
        {"file": SimpleUploadedFile("ratings.csv", f"{header}\n{unmatched}\n".encode(), content_type="text/csv")},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert_no_raw_markup(body, "import report")
    assert "&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;" in body  # the unmatched title, shown escaped
    # A bad file whose error message quotes the hostile cell: refused, quoted escaped, nothing saved.
    before = Rating.objects.count()
    bad = f'{XSS},8,2023-06-01,"x",https://x/,Movie,7,90,1999,Drama,1,,'
    response = client.post(
        "/me/import/",
        {"file": SimpleUploadedFile("ratings.csv", f"{header}\n{bad}\n".encode(), content_type="text/csv")},
    )
    assert response.status_code == 400
    assert_no_raw_markup(response.content.decode(), "import error")
    assert Rating.objects.count() == before


@pytest.mark.parametrize("injection", SQL_INJECTIONS + TEMPLATE_INJECTIONS)
def test_injection_strings_in_every_parameter_change_nothing(hostile_world, injection):
    client, title = hostile_world["client"], hostile_world["title"]
    titles_before, users_before = Title.objects.count(), User.objects.count()
    gets = [
        ("/search/", {"q": injection, "page": injection}),
        (
            "/titles/",
            {
                "genre": injection,
                "type": injection,
                "year_min": injection,
                "year_max": injection,
                "min_votes": injection,
                "sort": injection,
                "page": injection,
            },
        ),
        ("/me/ratings/", {"sort": injection, "genre": injection, "score": injection, "page": injection}),
        ("/me/watchlist/", {"page": injection}),
        ("/recommendations/", {"genre": injection, "type": injection, "year_min": injection, "page": injection}),
        ("/onboarding/", {"more": injection}),
        (f"/titles/{injection}/", {}),
        (f"/people/{injection}/", {}),
    ]
    for path, params in gets:
        response = client.get(path, params)
        assert response.status_code in (200, 400, 404), (path, response.status_code)
        body = response.content.decode()
        for word in DB_ERROR_WORDS:
            assert word not in body, (path, word)
        assert settings.SECRET_KEY not in body
        assert "md5$" not in body and "pbkdf2" not in body  # no password hash leaked by a UNION
    posts = [
        (f"/titles/{title.tconst}/rate/", {"score": injection}),
        (f"/titles/{title.tconst}/watchlist/", {"action": injection}),
        (f"/titles/{injection}/rate/", {"score": "3"}),
        ("/accounts/profile/", {"email": injection, "favourite_genres": injection}),
        ("/onboarding/", {"genres": injection}),
    ]
    for path, data in posts:
        response = client.post(path, data)
        assert response.status_code in (200, 400, 404), (path, response.status_code)
        for word in DB_ERROR_WORDS:
            assert word not in response.content.decode(), (path, word)
    assert Title.objects.count() == titles_before and User.objects.count() == users_before
    assert Rating.objects.get(user=hostile_world["user"]).score == 5  # unchanged by the refused posts
    user = User.objects.get(pk=hostile_world["user"].pk)
    assert "@" not in user.email or user.email == hostile_world["user"].email


@pytest.mark.parametrize("score", ["0", "6", "-1", "3.5", "1e3", "five", "9" * 40, " 3", "３", "true", "[5]"])
def test_malformed_scores_are_refused_with_a_message_and_save_nothing(hostile_world, score):
    client, title, user = hostile_world["client"], hostile_world["title"], hostile_world["user"]
    response = client.post(f"/titles/{title.tconst}/rate/", {"score": score}, HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert response.status_code == 400, score
    assert "Nothing was saved" in response.content.decode()
    assert Rating.objects.get(user=user, title=title).score == 5


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"score": 5}'),
        ("text/xml", b"<rating><score>5</score></rating>"),
        ("text/plain", b"score=1"),
        # (an empty ``score`` is the documented way to remove a rating, so it is not in this list)
        ("application/x-www-form-urlencoded", b"score=%ZZ&&=&%"),
        ("multipart/form-data; boundary=nope", b"--garbage--"),
    ],
)
def test_wrong_content_types_get_a_clear_refusal(hostile_world, content_type, body):
    client, title, user = hostile_world["client"], hostile_world["title"], hostile_world["user"]
    response = client.generic(
        "POST", f"/titles/{title.tconst}/rate/", body, content_type=content_type, HTTP_X_REQUESTED_WITH="XMLHttpRequest"
    )
    assert response.status_code == 400, response.content
    assert Rating.objects.get(user=user, title=title).score == 5


def test_nul_characters_are_refused_before_any_query(hostile_world):
    client, title = hostile_world["client"], hostile_world["title"]
    for path in ("/search/?q=a%00b", "/titles/tt%00/", "/people/nm%00/", "/titles/?genre=%00", "/me/ratings/?sort=%00"):
        response = client.get(path)
        assert response.status_code == 400, path
        assert "NUL character" in response.content.decode()
    response = client.post(
        f"/titles/{title.tconst}/rate/", "score=3%00", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert Rating.objects.get(user=hostile_world["user"], title=title).score == 5


def test_oversized_input(hostile_world):
    client, title = hostile_world["client"], hostile_world["title"]
    # A 100,000-character search is cut to the longest query the search takes, not an error.
    response = client.get("/search/", {"q": "a" * 100_000})
    assert response.status_code == 200
    # A body over the site-wide limit is refused from its Content-Length, before it is read.
    limit = 2 * settings.MAX_RATINGS_UPLOAD_BYTES
    response = client.generic(
        "POST",
        f"/titles/{title.tconst}/rate/",
        b"score=1&pad=" + b"x" * (limit + 1),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert "the limit is" in response.content.decode()
    # A chunked body has no Content-Length to check first: refused before it is read (411).
    response = client.generic(
        "POST",
        f"/titles/{title.tconst}/rate/",
        b"score=1",
        content_type="application/x-www-form-urlencoded",
        HTTP_TRANSFER_ENCODING="chunked",
    )
    assert response.status_code == 411
    assert "Content-Length" in response.content.decode()
    # Thousands of form fields: Django refuses (DATA_UPLOAD_MAX_NUMBER_FIELDS) with a 400.
    response = client.generic(
        "POST",
        f"/titles/{title.tconst}/rate/",
        "&".join(f"f{i}=1" for i in range(5000)).encode(),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    # A 300-character user name at sign-up: a form error, no account.
    response = Client().post(
        "/accounts/signup/",
        {
            "username": "u" * 300,
            "email": "long@example.com",
            "password1": "a-Strong-pass-123",
            "password2": "a-Strong-pass-123",
        },
    )
    assert response.status_code == 200 and not User.objects.filter(email="long@example.com").exists()
    assert Rating.objects.get(user=hostile_world["user"], title=title).score == 5


def test_uploads_over_the_limit_and_of_the_wrong_kind_are_refused(hostile_world):
    client, user = hostile_world["client"], hostile_world["user"]
    before = Rating.objects.filter(user=user).count()
    limit = settings.MAX_RATINGS_UPLOAD_BYTES
    huge = SimpleUploadedFile(
        "ratings.csv", b"Const,Your Rating\n" + b"tt0000001,5\n" * (limit // 12 + 10), content_type="text/csv"
    )
    response = client.post("/me/import/", {"file": huge})
    assert response.status_code == 400
    assert "the limit is" in response.content.decode()
    png = SimpleUploadedFile("ratings.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20, content_type="image/png")
    response = client.post("/me/import/", {"file": png})
    assert response.status_code == 400
    empty = SimpleUploadedFile("ratings.csv", b"", content_type="text/csv")
    response = client.post("/me/import/", {"file": empty})
    assert response.status_code == 400
    response = client.post("/me/import/", {})  # no file at all
    assert response.status_code == 400
    assert Rating.objects.filter(user=user).count() == before


def test_open_redirects_are_refused(hostile_world, user_factory):
    client, title = hostile_world["client"], hostile_world["title"]
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:alert(1)"):
        response = client.post(f"/titles/{title.tconst}/rate/", {"score": "4", "next": target})
        assert (
            response.status_code == 302
            and "evil" not in response["Location"]
            and "javascript" not in response["Location"]
        )
    member = user_factory(username="redirect_probe")
    response = Client().post(
        "/accounts/login/?next=https://evil.example/", {"username": member.username, "password": member.raw_password}
    )
    assert response.status_code == 302 and "evil" not in response["Location"]


def test_watchlist_toggle_with_unknown_action_changes_nothing(hostile_world):
    client, title, user = hostile_world["client"], hostile_world["title"], hostile_world["user"]
    response = client.post(f"/titles/{title.tconst}/watchlist/", {"action": "delete-everything"})
    assert response.status_code == 400
    assert WatchlistItem.objects.filter(user=user, title=title).exists()


def test_csv_export_of_hostile_titles_is_plain_data(hostile_world):
    response = hostile_world["client"].get("/me/ratings/", {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    import csv

    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][1] == XSS  # the value round-trips as data; a CSV is not HTML


STAFF_FORM_ATTACKS = {
    "/system/recommender/train/": [
        {"rank": "1000000000"},
        {"rank": "-5"},
        {"rank": "nan"},
        {"reg": "inf"},
        {"iterations": "99999"},
        {"alpha": "<script>"},
        {"rank": "' OR 1=1 --"},
    ],
    "/system/ratings/synthetic/generate/": [
        {"users": "-1", "seed": "1"},
        {"users": "10000000000", "seed": "1"},
        {"users": "abc", "seed": "1"},
        {"users": "5", "seed": "-3"},
        {"users": "5", "seed": "1", "min_votes": "<script>"},
    ],
    "/system/catalog/import/": [
        {"source": "directory", "directory": "/etc"},
        {"source": "directory", "directory": "/proc/self"},
        {"source": "directory", "directory": "x" * 10_000},
        {"source": "<script>alert(1)</script>"},
    ],
}


def test_staff_forms_refuse_hostile_values_with_a_message(db, staff_user):
    from django.contrib.messages import get_messages
    from django.urls import Resolver404, resolve

    from catalog.models import ImportRun
    from recommender.models import ModelRun

    client = Client()
    client.force_login(staff_user)
    runs_before = (ImportRun.objects.count(), ModelRun.objects.count())
    tried = 0
    for path, attacks in STAFF_FORM_ATTACKS.items():
        try:
            resolve(path)
        except Resolver404:
            continue
        for data in attacks:
            response = client.post(path, data)
            assert response.status_code == 302, (path, data, response.status_code)
            shown = " ".join(str(message) for message in get_messages(response.wsgi_request))
            assert "not started" in shown.lower(), (path, data, shown)
            tried += 1
    assert tried >= 10
    # The messages (quoting the hostile values) are shown on the system page, escaped.
    assert_no_raw_markup(client.get("/system/").content.decode(), "/system/")
    assert (ImportRun.objects.count(), ModelRun.objects.count()) == runs_before


def test_account_forms_take_oversized_and_odd_input(user_factory):
    client = Client()
    # A 10,000-character user name at login was a 500 (django-axes could not store it).
    for data in (
        {"username": "u" * 10_000, "password": "x"},
        {"username": "<script>", "password": "p" * 100_000},
        {"username": "a\u202eb\u200b", "password": "x"},
    ):
        response = client.post("/accounts/login/", data)
        assert response.status_code == 200 and "_auth_user_id" not in client.session
        assert_no_raw_markup(response.content.decode(), "login")
    for email in ("a@b.c" + "x" * 5000, '<script>alert("xss")</script>@x.y', "' OR 1=1 --@x.y"):
        response = client.post("/accounts/password_reset/", {"email": email})
        assert response.status_code in (200, 302)
        assert_no_raw_markup(response.content.decode(), "password reset")
    response = client.post(
        "/accounts/signup/",
        {"username": "fine_name", "email": "e" * 300 + "@x.y", "password1": "p" * 5000, "password2": "p" * 5000},
    )
    assert response.status_code == 200 and not User.objects.filter(username="fine_name").exists()
    member = user_factory(username="odd_input")
    client.force_login(member)
    response = client.post(
        "/accounts/password_change/", {"old_password": "x" * 100_000, "new_password1": "a", "new_password2": "b"}
    )
    assert response.status_code == 200
    response = client.post("/onboarding/", {"genres": ["x" * 10_000] * 50})
    assert response.status_code == 200
    member.refresh_from_db()
    assert member.favourite_genres == []
    # A redirect target too long to be a URL: refused (400), not followed.
    assert client.post("/recommendations/refresh/", {"query": "x" * 100_000}).status_code == 400
    response = client.post("/recommendations/refresh/", {"query": "page=1\r\nSet-Cookie: owned=1"})
    assert response.status_code == 302 and "\n" not in response["Location"] and "owned" not in response.cookies

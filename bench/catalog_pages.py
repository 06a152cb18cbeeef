"""Catalog page timings on the imported IMDb sample: home, browse (several filters), search, title
and person pages, anonymous and signed in. Each page is rendered through Django's test client
(URL routing, middleware, selectors, templates; no network) --repeat times; prints the median and
worst wall time and the number of SQL queries.

    DATABASE_URL=postgres://... python bench/catalog_pages.py [--repeat 20]

Needs the sample imported (``make demo`` or the system page). A member with 200 ratings is created
inside a transaction that is rolled back at the end, so nothing is left behind.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imdbrec.settings.dev")
os.environ["DEBUG"] = "false"  # as in production: no query log, cached templates
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-used-for-anything-else-0123456789")

import django  # noqa: E402
import django.conf  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from accounts.models import User  # noqa: E402
from catalog.models import Person, Title  # noqa: E402
from ratings.models import Rating  # noqa: E402

PAGES = [
    ("home", "/"),
    ("browse, default", "/titles/"),
    (
        "browse, 2 genres + years + rating sort",
        "/titles/?genre=Drama&genre=Romance&year_min=1940&year_max=1950&sort=rating",
    ),
    ("browse, type + min votes, page 5", "/titles/?type=movie&min_votes=1000&sort=year&page=5"),
    ("search 'casablanca'", "/search/?q=casablanca"),
    ("search 'casablanka' (typo)", "/search/?q=casablanka"),
    ("search 'the wizard of oz'", "/search/?q=the+wizard+of+oz"),
    ("search 'la regle du jeu' (aka)", "/search/?q=la+regle+du+jeu"),
    ("search 'love' (common word)", "/search/?q=love"),
    ("title page, Casablanca", "/titles/tt0034583/"),
    ("title page, The Birth of a Nation (many akas)", "/titles/tt0004972/"),
    ("person page", "/people/nm0000007/"),
]


def timed_requests(client: Client, url: str, repeat: int) -> tuple[list[float], list[dict]]:
    """``url`` requested once to warm caches and templates, then ``repeat`` times: the wall time
    of each in milliseconds (each must answer 200), and the SQL queries of one more request."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return timings, queries.captured_queries


def measure(client: Client, url: str, repeat: int) -> tuple[float, float, int]:
    timings, queries = timed_requests(client, url, repeat)
    return statistics.median(timings), max(timings), len(queries)


def plain_static_storages() -> dict:
    """The project's storages with plain static files: the benchmark needs no collectstatic manifest."""
    return {
        **django.conf.settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def member_create(username: str, *, ratings: int = 200) -> User:
    """A member who rated the ``ratings`` most voted titles (1 to 5 stars in turn); signed in with
    ``force_login``, so no password."""
    member = User.objects.create_user(username=username)
    popular = Title.objects.order_by("-num_votes").values_list("tconst", flat=True)[:ratings]
    Rating.objects.bulk_create(
        Rating(user=member, title_id=tconst, score=1 + n % 5) for n, tconst in enumerate(popular)
    )
    return member


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    titles = Title.objects.count()
    if titles < 1000 or not Person.objects.filter(nconst="nm0000007").exists():
        sys.exit(f"import the IMDb sample first ({titles} titles in the catalogue)")
    print(f"catalogue: {titles:,} titles; {args.repeat} runs per page\n")
    print(f"{'page':48} {'visitor':>8} {'median ms':>10} {'worst ms':>9} {'queries':>8}")
    with override_settings(STORAGES=plain_static_storages()), transaction.atomic():
        member = member_create("bench-member-catalog")
        anonymous, signed_in = Client(HTTP_HOST="localhost"), Client(HTTP_HOST="localhost")
        signed_in.force_login(member)
        for name, url in PAGES:
            for visitor, client in (("anon", anonymous), ("member", signed_in)):
                median, worst, queries = measure(client, url, args.repeat)
                print(f"{name:48} {visitor:>8} {median:>10.1f} {worst:>9.1f} {queries:>8}")
        transaction.set_rollback(True)


if __name__ == "__main__":
    main()

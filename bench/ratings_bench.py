"""Ratings benchmark: star clicks, the IMDb CSV import, history/statistics pages for a heavy rater.

Runs against $DATABASE_URL inside one transaction that is rolled back at the end, so it leaves
nothing behind. Prints one line per measurement.

    DATABASE_URL=postgres://... python bench/ratings_bench.py [--titles 5000] [--clicks 300]
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imdbrec.settings.dev")
os.environ.setdefault("DEBUG", "true")

import django  # noqa: E402

django.setup()

from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.db import transaction  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.models import User  # noqa: E402
from catalog.models import Title  # noqa: E402
from ratings import selectors, services  # noqa: E402
from ratings.imdb_csv import IMDB_COLUMNS, ratings_import_imdb_csv  # noqa: E402

GENRES = ["Drama", "Comedy", "Action", "Thriller", "Romance", "Horror", "Sci-Fi", "Documentary", "Crime", "Animation"]


class Rollback(Exception):
    pass


def timed(label: str, function, repeat: int = 1):
    durations = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        durations.append((time.perf_counter() - started) * 1000)
    if repeat == 1:
        print(f"{label}: {durations[0]:.1f} ms")
    else:
        durations.sort()
        p95 = durations[int(len(durations) * 0.95) - 1]
        print(f"{label}: median {statistics.median(durations):.2f} ms, p95 {p95:.2f} ms over {repeat}")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--titles", type=int, default=5000)
    parser.add_argument("--clicks", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(7)
    try:
        with transaction.atomic():
            titles = Title.objects.bulk_create(
                Title(
                    tconst=f"tt9{n:08d}",
                    title_type="movie",
                    primary_title=f"Bench film {n}",
                    start_year=rng.randint(1920, 2024),
                    genres=rng.sample(GENRES, rng.randint(1, 3)),
                    num_votes=rng.randint(10, 100_000),
                )
                for n in range(args.titles)
            )
            user = User.objects.create_user(username=f"bench-{time.time_ns()}", password="bench-pass-123")  # noqa: S106  (throwaway user, rolled back)
            print(f"catalogue: {len(titles)} synthetic titles (rolled back at the end)")

            def click():
                services.rating_set(user=user, title=rng.choice(titles), score=rng.randint(1, 5))

            timed("rating_set (service, one star click)", click, repeat=args.clicks)

            client = Client(SERVER_NAME="localhost")
            client.force_login(user)

            def post():
                title = rng.choice(titles)
                response = client.post(
                    f"/titles/{title.tconst}/rate/",
                    {"score": str(rng.randint(1, 5))},
                    HTTP_X_REQUESTED_WITH="XMLHttpRequest",
                )
                assert response.status_code == 200, response.status_code

            timed("POST /titles/<tconst>/rate/ (AJAX, full Django stack)", post, repeat=args.clicks)

            rows = [",".join(IMDB_COLUMNS)]
            for n, title in enumerate(titles):
                rows.append(
                    f'{title.tconst},{rng.randint(1, 10)},2020-01-{n % 28 + 1:02d},"{title.primary_title}",https://x/,Movie,7.0,100,'
                    f'{title.start_year},"Drama",100,2000-01-01,"Someone"'
                )
            for n in range(args.titles // 4):
                rows.append(
                    f'tt8{n:08d},7,2020-02-01,"Missing {n}",https://x/,Movie,7.0,100,2000,Drama,100,2000-01-01,X'
                )
            payload = ("\n".join(rows) + "\n").encode()
            upload = SimpleUploadedFile("ratings.csv", payload, content_type="text/csv")
            report = timed(
                f"IMDb CSV import ({len(rows) - 1} rows, {len(payload) / 1024:.0f} KiB)",
                lambda: ratings_import_imdb_csv(user=user, upload=upload),
            )
            print(
                f"  report: matched {report.matched}, created {report.created}, updated {report.updated}, "
                f"unchanged {report.unchanged}, unmatched {len(report.unmatched)}"
            )
            count = user.ratings.count()
            timed(
                f"rating_statistics_for_user ({count} ratings)",
                lambda: selectors.rating_statistics_for_user(user=user),
                repeat=5,
            )
            timed(f"GET /me/stats/ ({count} ratings)", lambda: client.get("/me/stats/"), repeat=5)
            timed(
                f"GET /me/ratings/?sort=-score&genre=Drama ({count} ratings)",
                lambda: client.get("/me/ratings/?sort=-score&genre=Drama"),
                repeat=5,
            )

            def export():
                response = client.get("/me/ratings/?format=csv")
                return sum(len(chunk) for chunk in response.streaming_content)

            size = timed(f"GET /me/ratings/?format=csv ({count} ratings)", export)
            print(f"  export size: {size / 1024:.0f} KiB")
            raise Rollback
    except Rollback:
        print("rolled back")


if __name__ == "__main__":
    main()

"""Predicted stars on catalog cards: what they add to a page of 50 cards.

    DATABASE_URL=... python bench/bench_predictions.py [--titles 50000] [--ratings 200] [--rounds 200]

Builds a model run of ``--titles`` titles (rank 48 + 20, as ``bench_foldin.py`` does) in the
database named by DATABASE_URL, makes it active for the length of the benchmark, and a site member
with ``--ratings`` ratings. It then requests the browse page (/titles/) with 50 cards a page,
in-process through Django's test client, alternately with the recommender's predictions provider
registered and without it (the same page, the same run, interleaved so both see the same load):

* steady — the member's fold-in is saved: the page reads it (the usual case);
* after a rating — the member just rated, so the request folds them in (once per request, in
  memory from the ratings read with the fold-in row; nothing saved).

Then the predictions provider alone, steady and just after a rating, the latter interleaved with
the path before (fold in through ``user_state_get`` and save the fold-in: a write and a commit).

Prints the median and p95 of both, the difference (the added milliseconds), the median of the
paired differences (each page with predictions against the page without it next to it, so a change
of load between rounds cancels), the ratio with/without (the baseline measured in the same run),
the CPU time of the request (which load does not stretch) and the load average.
Everything it created is deleted at the end. Target: at most 10 ms added to a page of 50 cards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imdbrec.settings.test")

import django  # noqa: E402

django.setup()

from bench_foldin import bench_member, percentile  # noqa: E402
from django.conf import settings  # noqa: E402

import catalog.views  # noqa: E402
from accounts.models import User  # noqa: E402
from catalog.extensions import title_annotations  # noqa: E402
from catalog.models import Title  # noqa: E402
from ratings.services import rating_set  # noqa: E402
from recommender import providers  # noqa: E402

CARDS = 50


def _predictions(on: bool) -> None:
    registered = title_annotations._providers
    if on and providers.title_predictions_annotate not in registered:
        registered.append(providers.title_predictions_annotate)
    if not on and providers.title_predictions_annotate in registered:
        registered.remove(providers.title_predictions_annotate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--titles", type=int, default=50_000)
    parser.add_argument("--ratings", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["*"]
    catalog.views.BROWSE_PAGE_SIZE = CARDS  # a page of 50 cards

    with bench_member(
        titles=args.titles, ratings=args.ratings, rounds=args.rounds, seed=args.seed, username="bench-predictions"
    ) as (_run, tconsts, user, client, rng, chosen):
        try:
            url = "/titles/?sort=popularity&page=3"
            _predictions(True)
            first = client.get(url)  # warm; folds the member in and saves it
            shown = first.content.count(b"Predicted for you")
            assert shown == CARDS, f"{shown} predictions on the page, expected {CARDS}"
            _predictions(False)
            assert b"Predicted for you" not in client.get(url).content

            times: dict[tuple[str, bool], list[float]] = {}
            cpu: dict[tuple[str, bool], list[float]] = {}
            load_before = os.getloadavg()[0]
            for round_number in range(args.rounds):
                for on in (round_number % 2 == 0, round_number % 2 == 1):  # alternate which goes first
                    _predictions(on)
                    started, cpu_started = time.perf_counter(), time.process_time()
                    response = client.get(url)
                    times.setdefault(("steady", on), []).append((time.perf_counter() - started) * 1000)
                    cpu.setdefault(("steady", on), []).append((time.process_time() - cpu_started) * 1000)
                    assert response.status_code == 200
            for round_number in range(args.rounds):
                on = round_number % 2 == 0
                _predictions(on)
                rating_set(user=user, title=Title.objects.get(pk=tconsts[chosen[args.ratings + round_number]]), score=3)
                started, cpu_started = time.perf_counter(), time.process_time()
                client.get(url)
                times.setdefault(("after a rating", on), []).append((time.perf_counter() - started) * 1000)
                cpu.setdefault(("after a rating", on), []).append((time.process_time() - cpu_started) * 1000)
            _predictions(True)

            print(f"\nbrowse page of {CARDS} cards; run of {args.titles:,} titles; member with {args.ratings}+ ratings")
            for case in ("steady", "after a rating"):
                with_, without = times[(case, True)], times[(case, False)]
                added = statistics.median(with_) - statistics.median(without)
                paired = statistics.median(a - b for a, b in zip(with_, without, strict=False))
                print(
                    f"{case:<15} without predictions: median {statistics.median(without):6.2f} ms p95 "
                    f"{percentile(without, 95):6.2f} ms | with: median {statistics.median(with_):6.2f} ms p95 "
                    f"{percentile(with_, 95):6.2f} ms | added: median {added:+.2f} ms, p95 "
                    f"{percentile(with_, 95) - percentile(without, 95):+.2f} ms "
                    f"({'PASS' if added <= 10 else 'FAIL'} <= 10 ms)"
                )
                print(
                    f"{'':<15} paired (with − the page without next to it): median {paired:+.2f} ms "
                    f"({'PASS' if paired <= 10 else 'FAIL'} <= 10 ms); with / without medians "
                    f"{statistics.median(with_) / statistics.median(without):.3f}"
                )
                cpu_added = statistics.median(cpu[(case, True)]) - statistics.median(cpu[(case, False)])
                print(
                    f"{'':<15} CPU time of the request: without {statistics.median(cpu[(case, False)]):6.2f} ms, "
                    f"with {statistics.median(cpu[(case, True)]):6.2f} ms, added {cpu_added:+.2f} ms "
                    f"({'PASS' if cpu_added <= 10 else 'FAIL'} <= 10 ms)"
                )
            # The predictions alone: the provider for the page's 50 titles, a fresh user object each time
            # (so each call finds the member's vectors, as one request does).
            titles = list(Title.objects.filter(pk__in=tconsts[:CARDS]))
            alone, alone_cpu = [], []
            for _ in range(args.rounds):
                member = User.objects.get(pk=user.pk)
                started, cpu_started = time.perf_counter(), time.process_time()
                providers.title_predictions_annotate(user=member, titles=titles)
                alone.append((time.perf_counter() - started) * 1000)
                alone_cpu.append((time.process_time() - cpu_started) * 1000)
            assert all(title.predicted_rating is not None for title in titles)
            print(
                f"the predictions provider alone for {CARDS} titles: median {statistics.median(alone):.2f} ms, "
                f"p95 {percentile(alone, 95):.2f} ms, CPU median {statistics.median(alone_cpu):.2f} ms "
                "(its queries: the active run; the saved fold-in with the rating count)"
            )
            # Just after a rating, the provider alone: the in-memory fold-in from the row's query (served)
            # against folding in through user_state_get and saving it (the path before), interleaved.
            from recommender.serving import predictions as prediction_module

            served_path = prediction_module._saved_vectors

            def saving_path(*, user, run, model=None):
                return served_path(user=user, run=run, model=None)  # stale -> None -> user_state_get saves

            after: dict[str, list[float]] = {"in memory": [], "fold in and save": []}
            extra = rng.choice(len(tconsts), size=2 * args.rounds, replace=False)
            for round_number in range(2 * args.rounds):
                case = "in memory" if round_number % 2 == 0 else "fold in and save"
                prediction_module._saved_vectors = served_path if case == "in memory" else saving_path
                try:
                    rating_set(user=user, title=Title.objects.get(pk=tconsts[extra[round_number]]), score=4)
                    member = User.objects.get(pk=user.pk)
                    started = time.perf_counter()
                    providers.title_predictions_annotate(user=member, titles=titles)
                    after[case].append((time.perf_counter() - started) * 1000)
                finally:
                    prediction_module._saved_vectors = served_path
            print(
                "the provider alone just after a rating: "
                + "; ".join(
                    f"{case}: median {statistics.median(values):.2f} ms, p95 {percentile(values, 95):.2f} ms"
                    for case, values in after.items()
                )
            )
            print(
                f"load average during the run: {load_before:.2f} -> {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
            )
        finally:
            _predictions(True)


if __name__ == "__main__":
    main()

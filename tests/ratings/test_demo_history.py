"""The demo member's history (`make demo`'s ``demo`` login): about twenty ratings of a clear taste
and a watchlist on the bundled sample, so logging in shows recommendations, statistics and
history at once; idempotent."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import User
from catalog.models import Title
from ratings.demo_history import DEMO_RATINGS, DEMO_WATCHLIST
from ratings.models import NotInterested, Rating, WatchlistItem
from tests.recommender.recsys_factories import numpy_run_train

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    call_command("import_imdb", "--dir", "catalog/sample", verbosity=0)
    call_command("create_demo_users", "--allow-without-debug", verbosity=0)  # tests run with DEBUG off
    return User.objects.get(username="demo")


def state(user):
    return (
        sorted(Rating.objects.filter(user=user).values_list("title_id", "score", "created_at", "updated_at")),
        sorted(WatchlistItem.objects.filter(user=user).values_list("title_id", "created_at")),
    )


def test_the_demo_member_gets_a_clear_taste_once(demo, capsys):
    call_command("seed_demo_history")
    assert "added 21 ratings and 5 watchlist titles" in capsys.readouterr().out
    ratings = {rating.title_id: rating for rating in Rating.objects.filter(user=demo).select_related("title")}
    assert len(ratings) == 21 and len(DEMO_RATINGS) == 21
    loved = [rating.title for rating in ratings.values() if rating.score >= 4]
    disliked = [rating.title for rating in ratings.values() if rating.score <= 2]
    # A clear taste: what they love is noir or Hitchcock (mystery/thriller), what they don't is not.
    hitchcock = set(Title.objects.filter(crew__person_id="nm0000033").values_list("tconst", flat=True))
    assert all("Film-Noir" in title.genres or title.tconst in hitchcock for title in loved)
    assert all("Film-Noir" not in title.genres and title.tconst not in hitchcock for title in disliked)
    # Dated over months, oldest first in the list's order: a history with a timeline.
    dates = [ratings[tconst].created_at for tconst, _ in DEMO_RATINGS]
    assert dates == sorted(dates) and (dates[-1] - dates[0]).days >= 200
    assert set(WatchlistItem.objects.filter(user=demo).values_list("title_id", flat=True)) == set(DEMO_WATCHLIST)

    before = state(demo)
    call_command("seed_demo_history")
    assert "added 0 ratings and 0 watchlist titles (21 ratings and 5 watchlist titles already there)" in (
        capsys.readouterr().out
    )
    assert state(demo) == before


def test_what_the_member_changed_is_kept(demo):
    first_tconst = DEMO_RATINGS[0][0]
    Rating.objects.create(user=demo, title_id=first_tconst, score=1)
    NotInterested.objects.create(user=demo, title_id=DEMO_WATCHLIST[0])
    call_command("seed_demo_history", verbosity=0)
    assert Rating.objects.get(user=demo, title_id=first_tconst).score == 1
    assert not WatchlistItem.objects.filter(user=demo, title_id=DEMO_WATCHLIST[0]).exists()
    assert Rating.objects.filter(user=demo).count() == 21


def test_dry_run_and_bad_input_change_nothing(demo, capsys):
    call_command("seed_demo_history", "--dry-run")
    assert "would add 21 ratings and 5 watchlist titles" in capsys.readouterr().out
    assert not Rating.objects.filter(user=demo).exists() and not WatchlistItem.objects.filter(user=demo).exists()
    with pytest.raises(CommandError, match="no user 'nobody'.*create_demo_users"):
        call_command("seed_demo_history", "--username", "nobody")
    with pytest.raises(CommandError, match="staff"):
        call_command("seed_demo_history", "--username", "staff")
    Title.objects.filter(tconst=DEMO_RATINGS[5][0]).delete()
    with pytest.raises(CommandError, match="not in the catalogue.*import_imdb --dir catalog/sample"):
        call_command("seed_demo_history")
    assert not Rating.objects.filter(user=demo).exists()


def test_logging_in_as_demo_shows_recommendations_statistics_and_history(demo, client, recommender_caches):
    call_command("seed_demo_history", verbosity=0)
    # A crowd to learn from: members of the same taste and of the opposite, who also rated titles
    # the demo member has not seen (noir and musicals).
    seen = [tconst for tconst, _ in DEMO_RATINGS] + list(DEMO_WATCHLIST)
    unseen = Title.objects.exclude(tconst__in=seen).order_by("-num_votes")
    noir = list(unseen.filter(genres__contains=["Film-Noir"])[:12])
    musicals = list(unseen.filter(genres__contains=["Musical"])[:12])
    for n in range(6):
        flip = n % 2 == 1
        other = User.objects.create_user(username=f"crowd{n}", password="x-password-2024")
        for tconst, score in DEMO_RATINGS:
            Rating.objects.create(user=other, title_id=tconst, score=6 - score if flip else score)
        for title in noir + musicals:
            liked = (title in noir) != flip
            Rating.objects.create(user=other, title=title, score=5 if liked else 1)
    numpy_run_train()
    # The login `make demo` prints, through the real login form.
    response = client.post(reverse("login"), {"username": "demo", "password": "demo-password-2024"})
    assert response.status_code == 302
    recommendations = client.get(reverse("recommender:recommendations")).content.decode()
    assert "to unlock your recommendations" not in recommendations
    assert recommendations.count('class="rec-rank"') >= 5
    first = recommendations.index('class="rec-rank"')
    assert any(title.primary_title in recommendations[first : first + 3000] for title in noir)
    stats = client.get(reverse("ratings:stats")).content.decode()
    assert 'id="chart-over-time"' in stats and "Film-Noir" in stats
    history = client.get(reverse("ratings:history")).content.decode()
    assert "Rear Window" in history and "Double Indemnity" in history
    watchlist = client.get(reverse("ratings:watchlist")).content.decode()
    assert "Dial M for Murder" in watchlist

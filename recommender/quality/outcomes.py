"""How well the model's predictions matched what a user actually did afterwards.

Predictions come from two places. A run writes, for every user it trained on, the titles it
recommends with a predicted star rating (``Recommendation``). But a member who joined or rated
since the run sees a list folded in live, which the run's rows do not hold: the recommendations
page records the cards it shows (``recommendation_shown_record`` into ``RecommendationShown``).
When the member later rates one of those titles (a rating created after the prediction was made
or shown), the pair is an honest test: the prediction existed before the rating.

``quality_for_user`` joins a user's ratings to the most recent such prediction and reports the
mean absolute error of the stars and the hit rate (the share of recommended titles the user went
on to rate that they liked, 4 stars or more). ``quality_overall`` does the same for all site
users together (the staff page).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.utils import timezone

from recommender.models import RecommendationShown

if TYPE_CHECKING:
    from accounts.models import User
    from recommender.models import ModelRun
    from recommender.serving.cards import RecommendationCard

LIKED = 4

# One row per rating: the latest prediction of that title for that user made before the rating: a
# run's recommendation (made when the run was created) or a card the page showed (at shown_at).
# Recommendation rows of deleted (old, pruned) runs are gone, so this is what is kept.
_MATCHED_SQL = """
    SELECT DISTINCT ON (r.id)
           r.id, r.title_id, r.score, p.predicted_rating, p.rank, p.confidence, p.run_id, r.created_at
    FROM ratings_rating r
    JOIN (
        SELECT rec.user_id, rec.title_id, rec.predicted_rating, rec.rank, rec.confidence, rec.run_id,
               run.created_at AS made_at
          FROM recommender_recommendation rec
          JOIN recommender_modelrun run ON run.id = rec.run_id
        UNION ALL
        SELECT shown.user_id, shown.title_id, shown.predicted_rating, shown.rank, shown.confidence, shown.run_id,
               shown.shown_at
          FROM recommender_recommendationshown shown
    ) p ON p.user_id = r.user_id AND p.title_id = r.title_id AND p.made_at < r.created_at
    {where}
    ORDER BY r.id, p.made_at DESC
"""


@dataclass
class MatchedPrediction:
    tconst: str
    score: int
    predicted: float
    rank: int
    confidence: float
    run_id: int
    rated_at: datetime
    title: object = None

    @property
    def error(self) -> float:
        return abs(self.predicted - self.score)


@dataclass
class Quality:
    matched: list[MatchedPrediction] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.matched)

    @property
    def mae(self) -> float | None:
        return sum(item.error for item in self.matched) / self.count if self.matched else None

    @property
    def hit_rate(self) -> float | None:
        return sum(item.score >= LIKED for item in self.matched) / self.count if self.matched else None

    @property
    def within_one_star(self) -> float | None:
        return sum(item.error <= 1.0 for item in self.matched) / self.count if self.matched else None

    @property
    def mae_baseline(self) -> float | None:
        """The error of always predicting the user's mean of these ratings: what "good" beats."""
        if not self.matched:
            return None
        mean = sum(item.score for item in self.matched) / self.count
        return sum(abs(item.score - mean) for item in self.matched) / self.count


@transaction.atomic
def recommendation_shown_record(*, user: User, run: ModelRun, cards: list[RecommendationCard]) -> int:
    """Remember the predictions ``cards`` showed ``user`` now (one upsert); returns how many."""
    if not cards:
        return 0
    now = timezone.now()
    rows = [
        RecommendationShown(
            user=user,
            title_id=card.title.tconst,
            run_id=run.pk,
            rank=card.rank,
            predicted_rating=card.predicted_rating,
            confidence=card.confidence,
            shown_at=now,
        )
        for card in cards
    ]
    RecommendationShown.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["user", "title"],
        update_fields=["run", "rank", "predicted_rating", "confidence", "shown_at"],
    )
    return len(rows)


def quality_for_user(*, user: User, with_titles: bool = True, limit: int | None = None) -> Quality:
    with connection.cursor() as cursor:
        cursor.execute(_MATCHED_SQL.format(where="WHERE r.user_id = %s"), [user.pk])
        rows = cursor.fetchall()
    matched = [
        MatchedPrediction(
            tconst=row[1],
            score=row[2],
            predicted=row[3],
            rank=row[4],
            confidence=row[5],
            run_id=row[6],
            rated_at=row[7],
        )
        for row in rows
    ]
    matched.sort(key=lambda item: item.rated_at, reverse=True)
    if with_titles and matched:
        from catalog.models import Title

        shown = matched[:limit] if limit else matched
        titles = Title.objects.only("tconst", "primary_title", "start_year").in_bulk([item.tconst for item in shown])
        for item in shown:
            item.title = titles.get(item.tconst)
    return Quality(matched=matched)


def quality_overall() -> dict:
    """MAE and hit rate over every site user's later ratings of recommended titles, per run."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT m.run_id, count(*), avg(abs(m.predicted_rating - m.score)),
                   avg(CASE WHEN m.score >= %s THEN 1.0 ELSE 0.0 END), count(DISTINCT m.user_id)
            FROM ({
                _MATCHED_SQL.format(where="JOIN accounts_user u ON u.id = r.user_id AND u.kind = 'site'").replace(
                    "SELECT DISTINCT ON (r.id)", "SELECT DISTINCT ON (r.id) r.user_id,"
                )
            }) AS m
            GROUP BY m.run_id ORDER BY m.run_id
            """,
            [LIKED],
        )
        rows = cursor.fetchall()
    return {
        run_id: {"count": count, "mae": float(mae), "hit_rate": float(hit_rate), "users": users}
        for run_id, count, mae, hit_rate, users in rows
    }

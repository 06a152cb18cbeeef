"""How well the model's predictions matched what a user actually did afterwards.

A run writes, for every user, the titles it recommends with a predicted star rating. When the user
later rates one of those titles (a rating created after the run was), the pair is an honest test:
the prediction was made before the rating existed. ``quality_for_user`` joins a user's ratings to
the most recent such prediction and reports the mean absolute error of the stars and the hit rate
(the share of recommended titles the user went on to rate that they liked, 4 stars or more).
``quality_overall`` does the same for all site users together (the staff page).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import connection

if TYPE_CHECKING:
    from accounts.models import User

LIKED = 4

# One row per rating: the latest recommendation of that title to that user by a run created before
# the rating. Recommendation rows of deleted (old, pruned) runs are gone, so this is what is kept.
_MATCHED_SQL = """
    SELECT DISTINCT ON (r.id)
           r.id, r.title_id, r.score, rec.predicted_rating, rec.rank, rec.confidence, rec.run_id, r.created_at
    FROM ratings_rating r
    JOIN recommender_recommendation rec ON rec.user_id = r.user_id AND rec.title_id = r.title_id
    JOIN recommender_modelrun run ON run.id = rec.run_id AND run.created_at < r.created_at
    {where}
    ORDER BY r.id, run.created_at DESC
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

""" "More like this": titles similar to one title, from the active run or, failing that, from content.

The active run stores each title's 20 most similar titles (``SimilarTitle``), computed by the
training over the whole catalog from the hybrid's similarity (``recommender/DESIGN.md`` §11):
content (shared people and genres, close in era, runtime and standing) lifted by how alike the
same viewers find the two titles. Each is shown with what it shares with the title ("Directed by
Alfred Hitchcock · Mystery, Thriller"). A title the run does not know (newer than the run) falls
back to a content query: titles sharing its directors, its principal cast and its genres, scored
so that a shared director counts most and a shared genre least, with well-known titles first.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from catalog.models import Person, Title
from ratings.selectors import rating_scores_for_user
from recommender.models import ModelRun, SimilarTitle
from recommender.serving.predictions import titles_predict

CAST_CATEGORIES = ("actor", "actress", "self")
# A shared director says more about a film's feel than a shared actor, and both more than a genre.
DIRECTOR_WEIGHT = 3.0
WRITER_WEIGHT = 1.5
CAST_WEIGHT = 1.0
GENRE_WEIGHT = 2.0
# A film is more like another film than like a TV series; among equals, the better known first.
SAME_TYPE_WEIGHT = 1.0
POPULARITY_WEIGHT = 0.3  # per decade of votes (log10)


@dataclass
class SimilarItem:
    title: Title
    score: float
    source: str  # "model" or "content"
    reason: str
    # The signed-in member's own stars when they rated the title (``similar_items_for_member``):
    # shown instead of a prediction, which would only guess what they already said.
    member_score: int | None = None


def similar_title_list(*, title: Title, limit: int = 12, run: ModelRun | None = None) -> list[SimilarItem]:
    """Up to ``limit`` titles like ``title``: the run's nearest titles, topped up from content."""
    run = run if run is not None else ModelRun.objects.filter(is_active=True).first()
    items: list[SimilarItem] = []
    if run is not None:
        rows = (
            SimilarTitle.objects.filter(run=run, title_id=title.tconst)
            .select_related("similar")
            .order_by("rank")[:limit]
        )
        found = [row for row in rows if row.similar is not None and row.similar.removed_at is None]
        shared = _shared_people(title=title, tconsts=[row.similar.tconst for row in found])
        for row in found:
            # The similar title may have been removed from a newer dump since the run.
            genres = sorted(set(row.similar.genres or ()) & set(title.genres or ()))
            named = shared.get(row.similar.tconst, [])
            reason = _content_reason(named, genres) if named or genres else "Liked by the same viewers"
            items.append(SimilarItem(title=row.similar, score=row.score, source="model", reason=reason))
    if len(items) < limit:
        seen = {item.title.tconst for item in items} | {title.tconst}
        for item in similar_title_list_by_content(title=title, limit=limit + len(seen)):
            if item.title.tconst not in seen:
                items.append(item)
                seen.add(item.title.tconst)
            if len(items) >= limit:
                break
    return items


def similar_items_for_member(*, user, items: list[SimilarItem]) -> dict[str, int]:
    """Each item gets the member's own stars when they rated its title, else the predicted stars
    (``title.predicted_rating``; none for a visitor or a member without a model): two reads for the
    whole list. Returns the member's scores ({tconst: stars}) for the cards' rating controls."""
    scores = rating_scores_for_user(user=user, tconsts=[item.title.tconst for item in items])
    titles_predict(user=user, titles=[item.title for item in items if item.title.tconst not in scores])
    for item in items:
        item.member_score = scores.get(item.title.tconst)
    return scores


def similar_title_list_by_content(*, title: Title, limit: int = 12) -> list[SimilarItem]:
    """Titles sharing directors, writers, principal cast or genres with ``title``, best first."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH people AS (
                SELECT person_id, CASE role WHEN 'director' THEN %(director)s ELSE %(writer)s END AS weight,
                       role AS kind
                FROM catalog_crew WHERE title_id = %(tconst)s AND removed_at IS NULL
                UNION ALL
                SELECT person_id, %(cast)s, 'cast'
                FROM catalog_principal
                WHERE title_id = %(tconst)s AND category = ANY(%(cast_categories)s) AND removed_at IS NULL
            ), by_people AS (
                SELECT c.title_id, p.weight, p.kind, p.person_id FROM people p
                JOIN catalog_crew c ON c.person_id = p.person_id AND c.role = p.kind AND c.removed_at IS NULL
                WHERE p.kind IN ('director', 'writer')
                UNION
                SELECT pr.title_id, p.weight, p.kind, p.person_id FROM people p
                JOIN catalog_principal pr ON pr.person_id = p.person_id AND pr.removed_at IS NULL
                     AND pr.category = ANY(%(cast_categories)s)
                WHERE p.kind = 'cast'
            ), by_genre AS (
                -- The best-known titles sharing a genre; the GIN index on genres finds them.
                SELECT t.tconst AS title_id FROM catalog_title t
                WHERE t.genres && %(genres)s::varchar[] AND t.tconst <> %(tconst)s AND t.removed_at IS NULL
                  AND NOT t.is_adult AND t.title_type = %(type)s
                ORDER BY t.num_votes DESC LIMIT 300
            ), candidates AS (
                SELECT title_id FROM by_people WHERE title_id <> %(tconst)s
                UNION SELECT title_id FROM by_genre
            ), per_person AS (
                -- One person counts once per title, with their strongest link (director over writer).
                SELECT title_id, person_id, max(weight) AS weight,
                       (array_agg(kind ORDER BY weight DESC))[1] AS kind
                FROM by_people GROUP BY title_id, person_id
            )
            SELECT t.tconst,
                   coalesce((SELECT sum(b.weight) FROM per_person b WHERE b.title_id = t.tconst), 0)
                   + %(genre)s * coalesce(
                       cardinality(ARRAY(SELECT unnest(t.genres) INTERSECT SELECT unnest(%(genres)s::varchar[])))::float
                       / nullif(cardinality(ARRAY(SELECT unnest(t.genres) UNION SELECT unnest(%(genres)s::varchar[]))), 0),
                       0)
                   + CASE WHEN t.title_type = %(type)s THEN %(same_type)s ELSE 0 END
                   + %(popularity)s * log(t.num_votes + 1) AS score,
                   ARRAY(SELECT b.kind || ':' || b.person_id FROM per_person b WHERE b.title_id = t.tconst
                         ORDER BY b.weight DESC, b.person_id) AS links,
                   ARRAY(SELECT unnest(t.genres) INTERSECT SELECT unnest(%(genres)s::varchar[])) AS shared_genres
            FROM candidates c JOIN catalog_title t ON t.tconst = c.title_id
            WHERE t.removed_at IS NULL AND NOT t.is_adult AND t.title_type NOT IN ('tvEpisode')
            ORDER BY score DESC, t.num_votes DESC, t.tconst
            LIMIT %(limit)s
            """,
            {
                "tconst": title.tconst,
                "director": DIRECTOR_WEIGHT,
                "writer": WRITER_WEIGHT,
                "cast": CAST_WEIGHT,
                "genre": GENRE_WEIGHT,
                "cast_categories": list(CAST_CATEGORIES),
                "genres": list(title.genres or []),
                "type": title.title_type,
                "same_type": SAME_TYPE_WEIGHT,
                "popularity": POPULARITY_WEIGHT,
                "limit": limit,
            },
        )
        rows = cursor.fetchall()
    titles = Title.objects.in_bulk([row[0] for row in rows])
    people = Person.objects.in_bulk({link.split(":", 1)[1] for row in rows for link in row[2]})
    items = []
    for tconst, score, links, shared_genres in rows:
        if tconst not in titles:
            continue
        named = [
            (kind, people[nconst].primary_name)
            for kind, nconst in (link.split(":", 1) for link in links)
            if nconst in people
        ]
        if not named and not shared_genres:
            continue
        items.append(
            SimilarItem(
                title=titles[tconst], score=float(score), source="content", reason=_content_reason(named, shared_genres)
            )
        )
    return items


def _shared_people(*, title: Title, tconsts: list[str]) -> dict[str, list[tuple[str, str]]]:
    """{tconst: [(kind, name)]}: the directors, writers and leading cast each of ``tconsts``
    shares with ``title`` (one query), strongest link first."""
    if not tconsts:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH credits AS (
                SELECT title_id, person_id, role AS kind FROM catalog_crew
                WHERE title_id = ANY(%(titles)s) AND removed_at IS NULL
                UNION
                SELECT title_id, person_id, 'cast' FROM catalog_principal
                WHERE title_id = ANY(%(titles)s) AND removed_at IS NULL AND category = ANY(%(cast_categories)s)
            )
            SELECT other.title_id, mine.kind, p.primary_name
            FROM credits mine
            JOIN credits other ON other.person_id = mine.person_id AND other.title_id <> mine.title_id
            LEFT JOIN catalog_person p ON p.nconst = mine.person_id
            WHERE mine.title_id = %(tconst)s
            ORDER BY other.title_id, CASE mine.kind WHEN 'director' THEN 0 WHEN 'writer' THEN 1 ELSE 2 END,
                     p.primary_name
            """,
            {"titles": [title.tconst, *tconsts], "tconst": title.tconst, "cast_categories": list(CAST_CATEGORIES)},
        )
        shared: dict[str, list[tuple[str, str]]] = {}
        for tconst, kind, name in cursor.fetchall():
            # A person whose row is not in the imported name.basics is still a shared person.
            name = name or NOT_IMPORTED
            links = shared.setdefault(tconst, [])
            if name == NOT_IMPORTED or all(name != known for _, known in links):
                links.append((kind, name))
    return shared


NOT_IMPORTED = "someone not in the imported data"
LINK_LABELS = {"director": "Directed by", "writer": "Written by", "cast": "With"}


def _content_reason(named: list[tuple[str, str]], shared_genres: list[str]) -> str:
    """ "Directed by Alfred Hitchcock · With Cary Grant · Mystery, Thriller"."""
    parts = []
    for kind in ("director", "writer", "cast"):
        names = list(dict.fromkeys(name for link_kind, name in named if link_kind == kind))
        if NOT_IMPORTED in names and len(names) > 1:  # named people first; the unnamed once
            names = [name for name in names if name != NOT_IMPORTED]
        if names:
            parts.append(f"{LINK_LABELS[kind]} {', '.join(names[:2])}{' …' if len(names) > 2 else ''}")
    if shared_genres:
        parts.append(", ".join(sorted(shared_genres)))
    return " · ".join(parts) or "Similar"

""" "More like this": titles similar to one title, from the active run or, failing that, from content.

The active run stores each title's 20 nearest titles in its factor space (``SimilarTitle``): titles
liked by the same people. A title the model does not know (too few ratings, newer than the run)
falls back to content: titles sharing its directors, its principal cast and its genres, scored so
that a shared director counts most and a shared genre least, with well-known titles first on ties.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from catalog.models import Person, Title
from recommender.models import ModelRun, SimilarTitle

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
        for row in rows:
            # The similar title may have been removed from a newer dump since the run.
            if row.similar is None or row.similar.removed_at is not None:
                continue
            items.append(
                SimilarItem(title=row.similar, score=row.score, source="model", reason="Liked by the same viewers")
            )
    if len(items) < limit:
        seen = {item.title.tconst for item in items} | {title.tconst}
        for item in similar_title_list_by_content(title=title, limit=limit + len(seen)):
            if item.title.tconst not in seen:
                items.append(item)
                seen.add(item.title.tconst)
            if len(items) >= limit:
                break
    return items


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


LINK_LABELS = {"director": "Directed by", "writer": "Written by", "cast": "With"}


def _content_reason(named: list[tuple[str, str]], shared_genres: list[str]) -> str:
    """ "Directed by Alfred Hitchcock · With Cary Grant · Mystery, Thriller"."""
    parts = []
    for kind in ("director", "writer", "cast"):
        names = [name for link_kind, name in named if link_kind == kind]
        if names:
            parts.append(f"{LINK_LABELS[kind]} {', '.join(names[:2])}{' …' if len(names) > 2 else ''}")
    if shared_genres:
        parts.append(", ".join(sorted(shared_genres)))
    return " · ".join(parts) or "Similar"

"""Match films named by title and year (a Letterboxd export) to the catalog's IMDb titles.

Candidates are titles whose primary, original or an alternative title (``title.akas``) equals the
name, ignoring case and accents, released within a year of the film (Letterboxd and IMDb often
disagree by one: festival premiere against release). Found through the btree indexes on
``lower(imdbrec_unaccent(column))`` (catalog migration 0003), one statement per batch of films.
A name still unmatched gets a second look that also ignores punctuation and ``&``/``and``
("Mission: Impossible – Fallout" is "Mission Impossible Fallout"): candidates come from the
trigram indexes (migration 0002) and their names are compared normalised in Python.

Choosing among candidates, best first:

1. the exact year before a year off by one;
2. a feature (``movie``) before a TV movie, video, short or special, before a series; episodes
   are never candidates;
3. the primary or original title before an alternative title.

One candidate in the best group: matched. Several: the best-known wins when it has at least
``POPULARITY_MARGIN`` times the IMDb votes of the next (a famous film against an obscure namesake
of the same year), otherwise the film is reported as ambiguous with its candidates and not
imported. None: not found.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction

BATCH_SIZE = 500
POPULARITY_MARGIN = 20
FUZZY_SIMILARITY = 0.5
CANDIDATES_REPORTED = 5

FEATURE_TYPES = ("movie",)
SECONDARY_TYPES = ("tvMovie", "video", "short", "tvSpecial", "tvShort")
EXCLUDED_TYPES = ("tvEpisode", "videoGame", "tvPilot")

MATCHED, AMBIGUOUS, NOT_FOUND = "matched", "ambiguous", "not_found"


def title_key(text: str) -> str:
    """Case, accents and punctuation folded: "Amélie" → "amelie", "Se7en!" → "se7en"."""
    decomposed = unicodedata.normalize("NFKD", text.replace("&", " and "))
    letters = "".join(
        " " if unicodedata.category(char)[0] in "PSZ" else char
        for char in decomposed
        if not unicodedata.combining(char)
    )
    return re.sub(r"\s+", " ", letters.casefold()).strip()


@dataclass(frozen=True)
class Candidate:
    tconst: str
    title: str
    year: int | None
    title_type: str
    votes: int
    via_alternative: bool  # found through an alternative title, not the primary or original one

    def rank(self, year: int | None) -> tuple[int, int, int]:
        distance = 0 if year is None or self.year is None else abs(self.year - year)
        if self.title_type in FEATURE_TYPES:
            kind = 0
        elif self.title_type in SECONDARY_TYPES:
            kind = 1
        else:
            kind = 2
        return (distance, kind, int(self.via_alternative))


@dataclass
class Match:
    status: str
    tconst: str = ""
    title: str = ""
    year: int | None = None
    via_alternative: bool = False
    candidates: list[Candidate] = field(default_factory=list)


@dataclass(frozen=True)
class Wanted:
    key: int
    name: str
    year: int | None


def match_choose(candidates: list[Candidate], year: int | None) -> Match:
    """The decision for one film among its candidates (rules in the module docstring)."""
    if not candidates:
        return Match(status=NOT_FOUND)
    ordered = sorted(candidates, key=lambda candidate: (candidate.rank(year), -candidate.votes, candidate.tconst))
    best_rank = ordered[0].rank(year)
    best = [candidate for candidate in ordered if candidate.rank(year) == best_rank]
    winner = best[0]
    if len(best) > 1 and winner.votes < POPULARITY_MARGIN * max(best[1].votes, 1):
        return Match(status=AMBIGUOUS, candidates=best[:CANDIDATES_REPORTED])
    return Match(
        status=MATCHED,
        tconst=winner.tconst,
        title=winner.title,
        year=winner.year,
        via_alternative=winner.via_alternative,
        candidates=ordered[:CANDIDATES_REPORTED],
    )


# Names compared as the btree indexes store them; the year window and the types cut candidates.
# The original-title and aka branches repeat their partial indexes' predicates (catalog migration
# 0011): a title whose original title is its primary one, or whose aka repeats an earlier one, is
# still found, through that other row.
_EXACT_SQL = """
WITH wanted AS (
    SELECT w.key, w.year, lower(public.imdbrec_unaccent(w.name)) AS name
      FROM unnest(%(keys)s::int[], %(names)s::text[], %(years)s::int[]) AS w(key, name, year)
), hits AS (
    SELECT w.key, t.tconst, false AS via_alternative
      FROM wanted w JOIN catalog_title t ON lower(public.imdbrec_unaccent(t.primary_title)) = w.name
    UNION ALL
    SELECT w.key, t.tconst, false
      FROM wanted w JOIN catalog_title t ON lower(public.imdbrec_unaccent(t.original_title)) = w.name
     WHERE t.original_title <> t.primary_title AND t.original_title <> ''
    UNION ALL
    SELECT w.key, a.title_id, true
      FROM wanted w JOIN catalog_titleaka a ON lower(public.imdbrec_unaccent(a.aka_title)) = w.name
     WHERE a.name_first AND a.removed_at IS NULL AND a.aka_title <> ''
)
SELECT h.key, t.tconst, t.primary_title, t.start_year, t.title_type, t.num_votes, bool_and(h.via_alternative)
  FROM hits h
  JOIN wanted w ON w.key = h.key
  JOIN catalog_title t ON t.tconst = h.tconst
 WHERE t.removed_at IS NULL AND NOT t.is_adult AND NOT (t.title_type = ANY(%(excluded)s))
   AND (w.year IS NULL OR t.start_year BETWEEN w.year - 1 AND w.year + 1)
 GROUP BY h.key, t.tconst
"""

# Per film (LATERAL), titles whose name is trigram-similar; compared exactly after title_key().
_FUZZY_SQL = """
SELECT w.key, t.tconst, t.primary_title, t.start_year, t.title_type, t.num_votes, c.via_alternative, c.name
  FROM unnest(%(keys)s::int[], %(names)s::text[], %(years)s::int[]) AS w(key, name, year)
  CROSS JOIN LATERAL (
      SELECT t.tconst, t.primary_title AS name, false AS via_alternative
        FROM catalog_title t WHERE public.imdbrec_unaccent(t.primary_title) %% public.imdbrec_unaccent(w.name)
      UNION ALL
      SELECT t.tconst, t.original_title, false
        FROM catalog_title t
       WHERE t.original_title <> t.primary_title
         AND public.imdbrec_unaccent(t.original_title) %% public.imdbrec_unaccent(w.name)
      UNION ALL
      SELECT a.title_id, a.aka_title, true
        FROM catalog_titleaka a
       WHERE a.name_first AND a.removed_at IS NULL
         AND public.imdbrec_unaccent(a.aka_title) %% public.imdbrec_unaccent(w.name)
  ) AS c
  JOIN catalog_title t ON t.tconst = c.tconst
 WHERE t.removed_at IS NULL AND NOT t.is_adult AND NOT (t.title_type = ANY(%(excluded)s))
   AND (w.year IS NULL OR t.start_year BETWEEN w.year - 1 AND w.year + 1)
"""


def _params(films: list[Wanted]) -> dict:
    return {
        "keys": [film.key for film in films],
        "names": [film.name for film in films],
        "years": [film.year for film in films],
        "excluded": list(EXCLUDED_TYPES),
    }


def _merge(found: dict[int, dict[str, Candidate]], row) -> None:
    key, tconst, title, year, title_type, votes, via_alternative = row[:7]
    kept = found.setdefault(key, {})
    candidate = Candidate(tconst, title, year, title_type, votes or 0, bool(via_alternative))
    if tconst not in kept or (kept[tconst].via_alternative and not candidate.via_alternative):
        kept[tconst] = candidate


def title_match(films: Iterable[Wanted], *, progress: Callable[[int, int], None] | None = None) -> dict[int, Match]:
    """The match of every film, by its ``key``; ``progress(done, total)`` after each batch."""
    films = list(films)
    found: dict[int, dict[str, Candidate]] = {}
    total = len(films)
    for start in range(0, total, BATCH_SIZE):
        batch = films[start : start + BATCH_SIZE]
        with connection.cursor() as cursor:
            cursor.execute(_EXACT_SQL, _params(batch))
            for row in cursor.fetchall():
                _merge(found, row)
        missing = [film for film in batch if film.key not in found and title_key(film.name)]
        if missing:
            wanted_keys = {film.key: title_key(film.name) for film in missing}
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT set_config('pg_trgm.similarity_threshold', %s, true)", [str(FUZZY_SIMILARITY)])
                cursor.execute(_FUZZY_SQL, _params(missing))
                for row in cursor.fetchall():
                    if title_key(row[7]) == wanted_keys[row[0]]:
                        _merge(found, row)
        if progress is not None:
            progress(min(start + BATCH_SIZE, total), total)
    return {film.key: match_choose(list(found.get(film.key, {}).values()), film.year) for film in films}

"""A tiny COPY loader for search tests on real IMDb files (titles, ratings, akas only).

Not the importer (that is catalog.importing, with validation and reject reporting): this loads
the rows the search reads, as fast as possible, so tests can run on 50,000 real titles.
"""

import gzip
from pathlib import Path

from django.db import connection

from catalog.search_table import title_search_table_rebuild

# Tab-separated, "\N" for NULL, and a quote character that never occurs so raw " survive.
_COPY = "COPY {table} FROM STDIN WITH (FORMAT csv, DELIMITER E'\\t', QUOTE E'\\x01', NULL '\\N', HEADER true)"


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _find(directory: Path, name: str) -> Path:
    for candidate in (directory / f"{name}.tsv.gz", directory / f"{name}.tsv"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{name} not in {directory}")


def load_titles_for_search(directory: Path) -> dict[str, int]:
    """title.basics, title.ratings (copied onto the titles) and title.akas from ``directory``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE s_basics (tconst text, title_type text, primary_title text, original_title text,"
            " is_adult text, start_year text, end_year text, runtime text, genres text) ON COMMIT DROP;"
            "CREATE TEMP TABLE s_ratings (tconst text, average numeric, votes int) ON COMMIT DROP;"
            "CREATE TEMP TABLE s_akas (tconst text, ordering int, title text, region text, language text,"
            " types text, attributes text, is_original text) ON COMMIT DROP;"
        )
        for table, name in (("s_basics", "title.basics"), ("s_ratings", "title.ratings"), ("s_akas", "title.akas")):
            with _open(_find(directory, name)) as stream:
                cursor.copy_expert(_COPY.format(table=table), stream, size=1 << 20)
        cursor.execute(
            "INSERT INTO catalog_title (tconst, title_type, primary_title, original_title, is_adult, start_year,"
            " end_year, runtime_minutes, genres, average_rating, num_votes)"
            " SELECT b.tconst, b.title_type, b.primary_title, coalesce(b.original_title, ''), b.is_adult = '1',"
            "  CASE WHEN b.start_year ~ '^[0-9]{4}$' THEN b.start_year::smallint END,"
            "  CASE WHEN b.end_year ~ '^[0-9]{4}$' THEN b.end_year::smallint END,"
            "  CASE WHEN b.runtime ~ '^[0-9]+$' THEN b.runtime::int END,"
            "  coalesce(string_to_array(b.genres, ','), '{}'), r.average, coalesce(r.votes, 0)"
            " FROM s_basics b LEFT JOIN s_ratings r USING (tconst) ON CONFLICT DO NOTHING"
        )
        titles = cursor.rowcount
        cursor.execute(
            "INSERT INTO catalog_titleaka (title_id, ordering, aka_title, region, language, types, attributes,"
            " is_original_title)"
            " SELECT tconst, ordering, title, coalesce(region, ''), coalesce(language, ''), '{}', '{}',"
            "  is_original = '1' FROM s_akas ON CONFLICT DO NOTHING"
        )
        akas = cursor.rowcount
        cursor.execute("ANALYZE catalog_title; ANALYZE catalog_titleaka")
    title_search_table_rebuild()  # as the importer does after a load
    return {"titles": titles, "akas": akas}

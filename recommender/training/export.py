"""The training's input: ratings and exclusions out of Postgres, and where a run's files go.

``ratings_export`` writes ``ratings.parquet`` and ``exclusions.parquet`` with ``COPY ... TO STDOUT``
(titles as integer item ids, users as their ids) for the Spark job; ``tconsts_from_items`` maps the
job's item ids back. A run's files live in its exchange directory (``exchange_directory``).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from django.conf import settings
from django.db import connection

from recommender.models import ModelRun

# Titles whose id maps back exactly: "tt" + at least 7 digits, no extra leading zero.
CANONICAL_TCONST = r"^tt([0-9]{7}|[1-9][0-9]{7,8})$"

EXPORT_RATINGS_SQL = f"""
    COPY (
        SELECT r.user_id, substring(r.title_id from 3)::int, r.score
        FROM ratings_rating r JOIN catalog_title t ON t.tconst = r.title_id
        WHERE t.removed_at IS NULL AND r.title_id ~ '{CANONICAL_TCONST}'
    ) TO STDOUT WITH (FORMAT csv)
"""
EXPORT_EXCLUSIONS_SQL = f"""
    COPY (
        SELECT user_id, substring(title_id from 3)::int FROM ratings_watchlistitem WHERE title_id ~ '{CANONICAL_TCONST}'
        UNION
        SELECT user_id, substring(title_id from 3)::int FROM ratings_notinterested WHERE title_id ~ '{CANONICAL_TCONST}'
    ) TO STDOUT WITH (FORMAT csv)
"""


# The catalog's side of the hybrid (DESIGN.md §11): every title a member rated, and the titles with
# at least %(min_votes)s IMDb votes, the most-voted first, at most %(max_titles)s in all.
CONTENT_TITLES_SQL = f"""
    SELECT t.tconst FROM catalog_title t
    LEFT JOIN (SELECT DISTINCT title_id FROM ratings_rating) rated ON rated.title_id = t.tconst
    WHERE t.removed_at IS NULL AND NOT t.is_adult AND t.tconst ~ '{CANONICAL_TCONST}'
      AND (rated.title_id IS NOT NULL OR (t.num_votes >= %(min_votes)s AND t.title_type <> 'tvEpisode'))
    ORDER BY rated.title_id IS NULL, t.num_votes DESC, t.tconst
    LIMIT %(max_titles)s
"""
EXPORT_CONTENT_SQL = """
    COPY (
        SELECT substring(t.tconst from 3)::int, t.title_type, t.start_year, t.runtime_minutes,
               t.average_rating, t.num_votes, array_to_string(t.genres, '|')
        FROM catalog_title t JOIN content_titles c ON c.tconst = t.tconst
    ) TO STDOUT WITH (FORMAT csv)
"""
# Directors and writers from title.crew; the leading cast (first billed actors) from title.principals.
EXPORT_PEOPLE_SQL = """
    COPY (
        SELECT substring(w.title_id from 3)::int, substring(w.person_id from 3)::int,
               CASE w.role WHEN 'director' THEN %(director)s ELSE %(writer)s END
        FROM catalog_crew w JOIN content_titles c ON c.tconst = w.title_id
        WHERE w.removed_at IS NULL AND w.person_id ~ '^nm[0-9]{1,9}$'
        UNION ALL
        SELECT substring(p.title_id from 3)::int, substring(p.person_id from 3)::int, %(cast)s
        FROM catalog_principal p JOIN content_titles c ON c.tconst = p.title_id
        WHERE p.removed_at IS NULL AND p.category IN ('actor', 'actress') AND p.ordering <= %(billing)s
          AND p.person_id ~ '^nm[0-9]{1,9}$'
    ) TO STDOUT WITH (FORMAT csv)
"""


def content_export(*, directory: Path, min_votes: int, max_titles: int) -> dict:
    """``content.parquet`` (item, kind, year, runtime, rating, votes, genres) and ``people.parquet``
    (item, person, weight) in ``directory`` for the job's content side; returns the counts."""
    from recommender.spark.content import CAST_BILLING, ROLE_WEIGHTS

    directory.mkdir(parents=True, exist_ok=True)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.content_titles")
        cursor.execute(
            f"CREATE TEMPORARY TABLE content_titles AS {CONTENT_TITLES_SQL}",
            {"min_votes": min_votes, "max_titles": max_titles},
        )
        cursor.execute("ALTER TABLE content_titles ADD PRIMARY KEY (tconst)")
        people_sql = cursor.mogrify(
            EXPORT_PEOPLE_SQL,
            {
                "director": ROLE_WEIGHTS["director"],
                "writer": ROLE_WEIGHTS["writer"],
                "cast": ROLE_WEIGHTS["cast"],
                "billing": CAST_BILLING,
            },
        ).decode()
    try:
        titles = _copy_out_parquet(
            EXPORT_CONTENT_SQL,
            directory / "content.parquet",
            [
                ("item", pa.int32()),
                ("kind", pa.string()),
                ("year", pa.float32()),
                ("runtime", pa.float32()),
                ("rating", pa.float32()),
                ("votes", pa.float32()),
                ("genres", pa.string()),
            ],
            transform=_genres_split,
        )
        people = _copy_out_parquet(
            people_sql,
            directory / "people.parquet",
            [("item", pa.int32()), ("person", pa.int32()), ("weight", pa.float32())],
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS pg_temp.content_titles")
    return {"content_titles": titles.num_rows, "content_people": people.num_rows}


def _genres_split(table: pa.Table) -> pa.Table:
    """The genres column ("Crime|Film-Noir") as a list of names."""
    genres = [[name for name in (text or "").split("|") if name] for text in table["genres"].to_pylist()]
    return table.set_column(table.schema.get_field_index("genres"), "genres", pa.array(genres, pa.list_(pa.string())))


def ratings_export(*, directory: Path) -> dict:
    """``ratings.parquet`` and ``exclusions.parquet`` in ``directory``; returns the counts."""
    directory.mkdir(parents=True, exist_ok=True)
    ratings = _copy_out_parquet(
        EXPORT_RATINGS_SQL,
        directory / "ratings.parquet",
        [("user", pa.int32()), ("item", pa.int32()), ("rating", pa.float32())],
    )
    exclusions = _copy_out_parquet(
        EXPORT_EXCLUSIONS_SQL, directory / "exclusions.parquet", [("user", pa.int32()), ("item", pa.int32())]
    )
    return {
        "ratings": ratings.num_rows,
        "users": len(pc.unique(ratings["user"])) if ratings.num_rows else 0,
        "titles": len(pc.unique(ratings["item"])) if ratings.num_rows else 0,
        "exclusions": exclusions.num_rows,
    }


def _copy_out_parquet(sql: str, path: Path, columns: list[tuple[str, pa.DataType]], transform=None) -> pa.Table:
    csv_path = path.with_suffix(".csv")
    with open(csv_path, "wb") as stream, connection.cursor() as cursor:
        cursor.copy_expert(sql, stream, 1 << 20)
    schema = pa.schema(columns)
    if csv_path.stat().st_size:
        table = pcsv.read_csv(
            csv_path,
            read_options=pcsv.ReadOptions(column_names=[name for name, _ in columns]),
            convert_options=pcsv.ConvertOptions(column_types=dict(columns)),
        )
    else:
        table = schema.empty_table()
    if transform is not None:
        table = transform(table)
    pq.write_table(table, path)
    csv_path.unlink()
    return table


def exchange_directory(run: ModelRun) -> Path:
    """``RECOMMENDER_EXCHANGE_DIR/<database>/run-<id>``: test databases and the dev database never
    share a directory even when their run ids are equal."""
    database = connection.settings_dict.get("NAME") or "db"
    return Path(settings.RECOMMENDER_EXCHANGE_DIR) / database / f"run-{run.pk}"


def tconsts_from_items(items: pa.Array) -> pa.Array:
    """Item ids back to tconsts (the export kept only ids that map back exactly)."""
    digits = pc.utf8_lpad(pc.cast(items, pa.string()), width=7, padding="0")
    return pc.binary_join_element_wise("tt", digits, "")

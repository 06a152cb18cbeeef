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


def _copy_out_parquet(sql: str, path: Path, columns: list[tuple[str, pa.DataType]]) -> pa.Table:
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

"""The title search table (``catalog.search_table``): created empty, with its indexes.

Derived data, like an index, so it has no model: ``title_search_table_rebuild`` fills it after
an import (``manage.py build_search`` by hand). Creating it empty is instant on any catalogue.
The statements are written out here rather than imported, so that this migration keeps
meaning what it meant when later code changes.
"""

from django.db import migrations

CREATE = [
    """
    CREATE TABLE IF NOT EXISTS catalog_titlesearch (
        name text NOT NULL,
        tconst varchar(12) NOT NULL,
        votes integer NOT NULL,
        kind smallint NOT NULL,
        matched text NOT NULL
    ) WITH (fillfactor = 100, autovacuum_enabled = false)
    """,
    "CREATE INDEX IF NOT EXISTS catalog_titlesearch_name_trgm ON catalog_titlesearch USING gin (name gin_trgm_ops)"
    " WHERE votes >= 1000",
    "CREATE INDEX IF NOT EXISTS catalog_titlesearch_name_trgm_rated ON catalog_titlesearch USING gin (name gin_trgm_ops)"
    " WHERE votes < 1000",
]


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0007_fewer_duplicate_indexes"),
    ]

    operations = [
        migrations.RunSQL(CREATE, "DROP TABLE IF EXISTS catalog_titlesearch"),
    ]

"""Search: btree indexes on ``lower(imdbrec_unaccent(column))`` for exact-title look-ups.

Queries too short for trigrams ("M", "Up"), and the fallback when a fuzzy search runs out of
time, match exact titles (case- and accent-insensitive) through these indexes.
"""

from django.db import migrations

INDEXES = [
    ("catalog_title_primary_exact", "catalog_title", "primary_title"),
    ("catalog_title_original_exact", "catalog_title", "original_title"),
    ("catalog_titleaka_title_exact", "catalog_titleaka", "aka_title"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_search"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} (lower(public.imdbrec_unaccent({column})));",
            f"DROP INDEX IF EXISTS {name};",
        )
        for name, table, column in INDEXES
    ]

"""Search: pg_trgm and unaccent, an IMMUTABLE unaccent wrapper, trigram GIN indexes.

``unaccent()`` itself is only STABLE (its dictionary could change), so Postgres refuses it in an
index expression. ``imdbrec_unaccent(text)`` pins the dictionary and schema and is declared
IMMUTABLE, the usual wrapper; the search selector uses exactly the indexed expressions
(``imdbrec_unaccent(column)``) so the planner can use these indexes for ``%`` / ``<%`` / ``%>``.

The indexes are created with raw SQL and ``state_operations=[]`` because Django's model state
cannot express an index on a function of a column with an operator class it does not know
about; the models stay the contract, this migration adds physical access paths only.
"""

from django.contrib.postgres.operations import TrigramExtension, UnaccentExtension
from django.db import migrations

UNACCENT_FUNCTION = """
CREATE OR REPLACE FUNCTION public.imdbrec_unaccent(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $func$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $func$;
"""

INDEXES = [
    ("catalog_title_primary_trgm", "catalog_title", "primary_title"),
    ("catalog_title_original_trgm", "catalog_title", "original_title"),
    ("catalog_titleaka_title_trgm", "catalog_titleaka", "aka_title"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        TrigramExtension(),
        UnaccentExtension(),
        migrations.RunSQL(UNACCENT_FUNCTION, "DROP FUNCTION IF EXISTS public.imdbrec_unaccent(text);"),
        *[
            migrations.RunSQL(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (public.imdbrec_unaccent({column}) gin_trgm_ops);",
                f"DROP INDEX IF EXISTS {name};",
            )
            for name, table, column in INDEXES
        ],
    ]

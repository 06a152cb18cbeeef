"""Smaller search indexes: akas that repeat an earlier aka of their title, and original titles
equal to the primary title, are left out of the trigram and exact indexes.

A third of IMDb's akas repeat, byte for byte, an earlier aka of the same title (one name in many
regions), and most original titles are the primary title. A search finds those titles through
the row that is indexed (the first aka spelled so, the primary title) with the same relevance
and exact rank, so leaving them out loses no result; at full size it saves about a third of the
largest trigram index and most of the original-title one, and their build minutes on import.
``TitleAka.name_first`` marks the indexed akas: set by the importer while it streams the file,
and here, once, for the akas already loaded (the first by id, i.e. by line, of each live name).

The search (``catalog.search``) and title matching (``ratings.title_matching``) repeat these
predicates so that the planner can use the partial indexes; the import's deferred builds copy
definitions from ``pg_get_indexdef``, predicates included.
"""

from django.db import migrations, models

AKA_PREDICATE = "name_first AND removed_at IS NULL"
ORIGINAL_PREDICATE = "original_title <> primary_title"
# The exact (btree) indexes add a condition the trigram statements do not state (an empty title
# equals no query, so the exact look-ups state it at no loss). A partial index whose predicate a
# statement implies can be read whole, every row then filtered: with sequential scans off and a
# LIMIT, the planner took the small exact index of akas for a tail search ("casablanca" %> ...)
# instead of the trigram one. Not implied by the trigram statements, the exact indexes cannot be.
NOT_EMPTY = " AND {column} <> ''"

# (name, table, indexed expression, predicate): the same names as migrations 0002 and 0003
INDEXES = [
    (
        "catalog_titleaka_title_trgm",
        "catalog_titleaka",
        "USING gin (public.imdbrec_unaccent(aka_title) gin_trgm_ops)",
        AKA_PREDICATE,
    ),
    (
        "catalog_titleaka_title_exact",
        "catalog_titleaka",
        "(lower(public.imdbrec_unaccent(aka_title)))",
        AKA_PREDICATE + NOT_EMPTY.format(column="aka_title"),
    ),
    (
        "catalog_title_original_trgm",
        "catalog_title",
        "USING gin (public.imdbrec_unaccent(original_title) gin_trgm_ops)",
        ORIGINAL_PREDICATE,
    ),
    (
        "catalog_title_original_exact",
        "catalog_title",
        "(lower(public.imdbrec_unaccent(original_title)))",
        ORIGINAL_PREDICATE + NOT_EMPTY.format(column="original_title"),
    ),
]

FLAGS_SET = """
UPDATE catalog_titleaka a SET name_first = false
  FROM (SELECT id, row_number() OVER (PARTITION BY title_id, aka_title ORDER BY id) AS place
          FROM catalog_titleaka WHERE removed_at IS NULL) later
 WHERE a.id = later.id AND later.place > 1
"""


def _index_sql(*, partial: bool) -> list[str]:
    statements = []
    for name, table, indexed, predicate in INDEXES:
        statements.append(f"DROP INDEX IF EXISTS {name}")
        where = f" WHERE {predicate}" if partial else ""
        statements.append(f"CREATE INDEX {name} ON {table} {indexed}{where}")
    return statements


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0010_title_weighted_rating"),
    ]

    operations = [
        migrations.AddField(
            model_name="titleaka",
            name="name_first",
            field=models.BooleanField(db_default=True, default=True),
        ),
        migrations.RunSQL(FLAGS_SET, migrations.RunSQL.noop),
        migrations.RunSQL(_index_sql(partial=True), _index_sql(partial=False)),
    ]

"""Browse at full size: an index for each sort of ``/titles/`` that had none.

"Newest first" (``start_year DESC NULLS LAST, num_votes DESC, tconst``) and "Title A–Z"
(``primary_title, start_year, tconst``) sorted every listed title on each request: 12 M rows at
IMDb's full size. With these indexes a page, down to the deepest one (``settings.CATALOG_BROWSE_MAX_RESULTS``),
reads its rows in order and stops. Partial on what lists show (not adult, not removed), as
``catalog.selectors.title_list`` filters. Built CONCURRENTLY, so the site keeps reading meanwhile
(a few minutes on a full catalogue); raw SQL with no model state, as migration 0002.
"""

from django.db import migrations

INDEXES = [
    (
        "catalog_title_browse_year",
        "(start_year DESC NULLS LAST, num_votes DESC, tconst)",
    ),
    (
        "catalog_title_browse_title",
        "(primary_title, start_year, tconst)",
    ),
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("catalog", "0008_title_search_table"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON catalog_title {columns}"
            " WHERE NOT is_adult AND removed_at IS NULL",
            f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        )
        for name, columns in INDEXES
    ]

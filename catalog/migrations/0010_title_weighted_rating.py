"""The weighted rating stored on each title, kept by the database, with an index for its sort.

"Highest rated" sorted by ``v/(v+m)·R + m/(v+m)·C`` computed per request: at IMDb's full size
that is an expression over 1.6 M rated titles, so the sort ranked only the 10,000 most voted
matching titles, and finding those with two genre filters walked most of the votes index
(333 ms at a tenth of full size). Stored, the sort reads the first page off an index, as the
year and title sorts do (migration 0009).

* ``catalog_weightedrating``: one row, ``C`` (the mean IMDb rating of the rated titles, to two
  decimals) and ``m`` (``settings.CATALOG_WEIGHTED_RATING_MIN_VOTES``). The importer's ratings
  sync refreshes ``C`` and rewrites every title's key when it moved
  (``catalog.importing.loader.title_weighted_rating_refresh``).
* ``catalog_title_weighted_rating(rating, votes)``: the definition, in SQL. Before any import
  set ``C`` (an empty catalogue when migrated), it is the live mean.
* A trigger sets ``weighted_rating`` whenever a row is inserted or its rating or votes are
  written, whoever writes them (the ratings sync, the admin, the test factories).
* ``catalog_title_browse_rating``: ``(weighted_rating DESC NULLS LAST, num_votes DESC, tconst)``,
  partial on what lists show, as the sort orders; built ``CONCURRENTLY`` (a few minutes at full
  size, the site keeps reading).

Raw SQL, written out here so that this migration keeps meaning what it meant. The backfill
rewrites the 1.6 M rated titles of a full catalogue once (minutes); it runs outside a
transaction (``atomic = False``) like the index builds.
"""

from django.conf import settings
from django.db import migrations, models

MIN_VOTES = getattr(settings, "CATALOG_WEIGHTED_RATING_MIN_VOTES", 25_000)

CONSTANTS = [
    """
    CREATE TABLE IF NOT EXISTS catalog_weightedrating (
        id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
        mean numeric(4, 2),
        min_votes integer NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    f"""
    INSERT INTO catalog_weightedrating (id, mean, min_votes)
    SELECT 1, round(avg(average_rating), 2), {int(MIN_VOTES)} FROM catalog_title
     WHERE num_votes > 0 AND average_rating IS NOT NULL
    ON CONFLICT (id) DO NOTHING
    """,
]

FUNCTIONS = [
    """
    CREATE OR REPLACE FUNCTION catalog_title_weighted_rating(rating numeric, votes integer)
    RETURNS double precision LANGUAGE sql STABLE AS $$
        SELECT CASE WHEN votes > 0 AND rating IS NOT NULL THEN
            (votes::float8 / (votes + w.min_votes)) * rating::float8
            + (w.min_votes::float8 / (votes + w.min_votes))
              * coalesce(
                  w.mean,
                  (SELECT round(avg(t.average_rating), 2) FROM catalog_title t
                    WHERE t.num_votes > 0 AND t.average_rating IS NOT NULL),
                  rating
              )::float8
        END
        FROM catalog_weightedrating w
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION catalog_title_weighted_rating_set() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.weighted_rating := catalog_title_weighted_rating(NEW.average_rating, NEW.num_votes);
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER catalog_title_weighted_rating
    BEFORE INSERT OR UPDATE OF average_rating, num_votes ON catalog_title
    FOR EACH ROW EXECUTE FUNCTION catalog_title_weighted_rating_set()
    """,
]

FUNCTIONS_DROP = [
    "DROP TRIGGER IF EXISTS catalog_title_weighted_rating ON catalog_title",
    "DROP FUNCTION IF EXISTS catalog_title_weighted_rating_set()",
    "DROP FUNCTION IF EXISTS catalog_title_weighted_rating(numeric, integer)",
]

BACKFILL = """
UPDATE catalog_title SET weighted_rating = catalog_title_weighted_rating(average_rating, num_votes)
 WHERE num_votes > 0 AND average_rating IS NOT NULL
"""

INDEX = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS catalog_title_browse_rating ON catalog_title"
    " (weighted_rating DESC NULLS LAST, num_votes DESC, tconst)"
    " WHERE NOT is_adult AND removed_at IS NULL"
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("catalog", "0009_browse_sort_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="title",
            name="weighted_rating",
            field=models.FloatField(blank=True, editable=False, null=True),
        ),
        migrations.RunSQL(CONSTANTS, "DROP TABLE IF EXISTS catalog_weightedrating"),
        migrations.RunSQL(FUNCTIONS, FUNCTIONS_DROP),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.RunSQL(INDEX, "DROP INDEX CONCURRENTLY IF EXISTS catalog_title_browse_rating"),
    ]

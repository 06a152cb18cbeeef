"""Recommendations and similar titles: one table partition per training run.

A training writes about a million recommendation rows. Into one big table, each row is added to
three indexes that already hold the kept runs' rows, which made those indexes, not the data, most
of the write-back's time. Partitioned by run, the write-back COPYs into a new bare table, then
attaches it as the run's partition: Postgres builds its indexes in one sorted pass, in the same
transaction (nothing is visible until it commits). Deleting an old run drops its partition
instead of deleting a million rows one by one. Rows inserted for a run without a partition (the
ORM: tests, fixtures) land in the ``_default`` partition.

Django's model state does not change (``id`` stays the model's key); in the database the primary
key is ``(id, run_id)``, as a partitioned table's keys must include the partition column.
Existing rows are moved into one partition per run.
"""

from django.db import migrations

TABLES = {
    "recommender_recommendation": {
        "unique": ("recommender_rec_unique_rank", "run_id, user_id, rank"),
        "indexes": [("recommender_recommendation_user_id_0f0c7942", "user_id")],
    },
    "recommender_similartitle": {
        "unique": ("recommender_similar_unique", "run_id, title_id, rank"),
        "indexes": [],
    },
}


def _keys_add(execute, table: str, spec: dict, primary: str) -> None:
    execute(f'ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({primary})')
    name, columns = spec["unique"]
    execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({columns})")
    for name, columns in spec["indexes"]:
        execute(f"CREATE INDEX {name} ON {table} ({columns})")


def _identity_continue(execute, table: str, source: str) -> None:
    execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"GREATEST((SELECT max(id) FROM {source}), 1))")


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    execute = schema_editor.execute
    for table, spec in TABLES.items():
        old = f"{table}_unpartitioned"
        execute(f"ALTER TABLE {table} RENAME TO {old}")
        execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY) PARTITION BY LIST (run_id)")
        execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(f"SELECT DISTINCT run_id FROM {old} ORDER BY run_id")  # noqa: S608
            runs = [row[0] for row in cursor.fetchall()]
        for run_id in runs:
            child = f"{table}_run{int(run_id)}"
            execute(f"CREATE TABLE {child} (LIKE {table} INCLUDING DEFAULTS, CHECK (run_id = {int(run_id)}))")
            execute(f"INSERT INTO {child} SELECT * FROM {old} WHERE run_id = {int(run_id)}")  # noqa: S608
            execute(f"ALTER TABLE {table} ATTACH PARTITION {child} FOR VALUES IN ({int(run_id)})")
        _identity_continue(execute, table, old)
        execute(f"DROP TABLE {old}")
        _keys_add(execute, table, spec, "id, run_id")


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    execute = schema_editor.execute
    for table, spec in TABLES.items():
        old = f"{table}_partitioned"
        execute(f"ALTER TABLE {table} RENAME TO {old}")
        execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY)")
        execute(f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608
        _identity_continue(execute, table, old)
        execute(f"DROP TABLE {old} CASCADE")
        _keys_add(execute, table, spec, "id")


class Migration(migrations.Migration):

    dependencies = [
        ("recommender", "0002_run_rows_without_redundant_indexes"),
    ]

    operations = [migrations.RunPython(partition, unpartition, elidable=False)]

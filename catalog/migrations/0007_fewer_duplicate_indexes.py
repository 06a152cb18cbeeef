"""Drop the catalog's duplicate indexes: at IMDb's full size each costs minutes per import and GBs.

A ForeignKey gets a B-tree and, on a varchar, a ``varchar_pattern_ops`` twin for LIKE. Every
foreign key here is already the leading column of a unique constraint or a named index
(``catalog_principal_unique`` (title, ordering), ``catalog_principal_person_idx``, ...), and no
query does LIKE on an IMDb id, so those indexes (two on principals.person_id, one more on
title_id, ...) only slowed the import: on 97 million principals each is about 2 GB and minutes
of build. The twins of the varchar primary keys go too; ``title_type`` keeps a plain B-tree.
"""

import django.db.models.deletion
from django.db import migrations, models

# The LIKE twins Django made for the varchar primary keys (names as 0001 created them).
PRIMARY_KEY_PATTERN_INDEXES = [
    ("catalog_title_tconst_132e4fdd_like", "catalog_title", "tconst"),
    ("catalog_person_nconst_4177ec39_like", "catalog_person", "nconst"),
    ("catalog_episode_title_id_8ce6877a_like", "catalog_episode", "title_id"),
    ("catalog_titlerating_title_id_10c3d9c2_like", "catalog_titlerating", "title_id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_person_name_search"),
    ]

    operations = [
        migrations.AlterField(
            model_name="crew",
            name="person",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="crew_credits",
                to="catalog.person",
            ),
        ),
        migrations.AlterField(
            model_name="crew",
            name="title",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="crew",
                to="catalog.title",
            ),
        ),
        migrations.AlterField(
            model_name="episode",
            name="parent",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="episodes",
                to="catalog.title",
            ),
        ),
        migrations.AlterField(
            model_name="principal",
            name="person",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="principals",
                to="catalog.person",
            ),
        ),
        migrations.AlterField(
            model_name="principal",
            name="title",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="principals",
                to="catalog.title",
            ),
        ),
        migrations.AlterField(
            model_name="title",
            name="title_type",
            field=models.CharField(
                choices=[
                    ("movie", "Movie"),
                    ("tvSeries", "TV Series"),
                    ("tvMiniSeries", "TV Mini Series"),
                    ("tvMovie", "TV Movie"),
                    ("tvEpisode", "TV Episode"),
                    ("tvSpecial", "TV Special"),
                    ("short", "Short"),
                    ("tvShort", "TV Short"),
                    ("video", "Video"),
                    ("videoGame", "Video Game"),
                    ("tvPilot", "TV Pilot"),
                ],
                max_length=32,
            ),
        ),
        migrations.AlterField(
            model_name="titleaka",
            name="title",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="akas",
                to="catalog.title",
            ),
        ),
        migrations.AddIndex(
            model_name="title",
            index=models.Index(fields=["title_type"], name="catalog_title_type_idx"),
        ),
        migrations.RunSQL(
            [f"DROP INDEX IF EXISTS {name}" for name, _table, _column in PRIMARY_KEY_PATTERN_INDEXES],
            [
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column} varchar_pattern_ops)"
                for name, table, column in PRIMARY_KEY_PATTERN_INDEXES
            ],
        ),
    ]

"""Search people by name: the trigram and exact-name indexes titles have (0002, 0003), on
``imdbrec_unaccent(primary_name)``, so "hitchcock", "Hichcock" or "Almodovar" find a person."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0005_importrun_background_run"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS catalog_person_name_trgm ON catalog_person"
            " USING gin (public.imdbrec_unaccent(primary_name) gin_trgm_ops);",
            "DROP INDEX IF EXISTS catalog_person_name_trgm;",
        ),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS catalog_person_name_exact ON catalog_person"
            " (lower(public.imdbrec_unaccent(primary_name)));",
            "DROP INDEX IF EXISTS catalog_person_name_exact;",
        ),
    ]

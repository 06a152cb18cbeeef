"""The weighted rating's SQL function runs without JIT compilation.

The trigger of migration 0010 calls ``catalog_title_weighted_rating`` once per row written. A SQL
function that cannot be inlined is planned on each call, and its plan holds the fallback mean over
the whole ``catalog_title`` (used only before any import sets ``C``): at IMDb's full size that
plan's estimated cost is over ``jit_above_cost``, so Postgres compiled it with LLVM for every row.
The first import's ratings sync (1.6 M titles) spent over 20 minutes in LLVM at 100 % CPU
before it was stopped. Compiling one scalar expression never pays; the function now runs with
``jit = off`` whatever the server's setting.
"""

from django.db import migrations

FUNCTION = "catalog_title_weighted_rating(numeric, integer)"


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0011_aka_name_first_partial_indexes"),
    ]

    operations = [
        migrations.RunSQL(f"ALTER FUNCTION {FUNCTION} SET jit = off", f"ALTER FUNCTION {FUNCTION} RESET jit"),
    ]

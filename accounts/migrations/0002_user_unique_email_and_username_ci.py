"""One account per e-mail address and per user name, case-insensitively, in the database.

Before this, uniqueness was checked only in the forms, and concurrent sign-ups with one address
made several accounts. Accounts that already share an address keep it on the oldest one; the later
ones lose the address (they still log in, and can set another on their profile), listed on the
console. User names that differ only in case cannot be merged or renamed here: the migration stops
and names them.
"""

import django.db.models.functions.text
from django.db import migrations, models
from django.db.models.functions import Lower


def duplicates_resolve(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    clashes = (
        User.objects.annotate(name=Lower("username"))
        .values("name")
        .annotate(count=models.Count("id"))
        .filter(count__gt=1)
        .values_list("name", flat=True)
    )
    if clashes:
        raise RuntimeError(
            "These user names differ only in case; rename all but one, then migrate again: "
            + ", ".join(sorted(clashes)[:20])
        )
    addresses = (
        User.objects.exclude(email="")
        .annotate(address=Lower("email"))
        .values("address")
        .annotate(count=models.Count("id"))
        .filter(count__gt=1)
        .values_list("address", flat=True)
    )
    for address in addresses:
        later = User.objects.filter(email__iexact=address).order_by("date_joined", "id")[1:]
        for user in later:
            print(f"  {user.username}: e-mail {user.email} removed (an older account has it)")
            user.email = ""
            user.save(update_fields=["email"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(duplicates_resolve, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("email"),
                condition=models.Q(("email", ""), _negated=True),
                name="accounts_user_unique_email_ci",
                violation_error_code="email_taken",
                violation_error_message="An account with this e-mail address (in any case) exists already.",
            ),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("username"),
                name="accounts_user_unique_username_ci",
                violation_error_code="username_taken",
                violation_error_message="An account with this user name (in any case) exists already.",
            ),
        ),
    ]

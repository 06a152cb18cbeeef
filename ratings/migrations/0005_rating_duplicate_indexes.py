"""Drop the B-trees Django added for Rating.user and Rating.title (and the LIKE twin of title_id):
the unique (user, title) constraint and ratings_rating_title_idx serve the same lookups. With 8 M
synthetic ratings the three were 215 MB and half of the B-tree writes per rating."""


import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0007_fewer_duplicate_indexes'),
        ('ratings', '0004_member_import_run'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='rating',
            name='title',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='user_ratings', to='catalog.title'),
        ),
        migrations.AlterField(
            model_name='rating',
            name='user',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='ratings', to=settings.AUTH_USER_MODEL),
        ),
    ]

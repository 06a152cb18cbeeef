import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):

    # 0008 (the ranking model's) lands beside this one; the lead merges the two.
    dependencies = [
        ('recommender', '0008_titlefactor_item_neighbours'),
    ]

    operations = [
        migrations.AddField(
            model_name='titlefactor',
            name='star_neighbour_scores',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.FloatField(), blank=True, null=True, size=None),
        ),
        migrations.AddField(
            model_name='titlefactor',
            name='star_neighbours',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.IntegerField(), blank=True, null=True, size=None),
        ),
    ]

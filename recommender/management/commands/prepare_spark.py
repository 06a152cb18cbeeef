"""Build the Spark driver's class archive (SPARK_CLASS_ARCHIVE) so that every training's Spark
session starts several seconds sooner: ``python manage.py prepare_spark [--force]``.

It runs the real training job once on a tiny generated crowd in a JVM that records every class
it loads (Java's class data sharing). Safe to run again: an existing archive is kept unless
--force. Training works without it, only slower to start.
"""

from django.core.management.base import BaseCommand, CommandError

from recommender.training.spark_job import SparkJobError, spark_class_archive_build


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Build it again even if it exists.")

    def handle(self, *args, force=False, **options):
        self.stdout.write("preparing Spark (class archive for faster starts)…")
        try:
            _built, message = spark_class_archive_build(force=force)
        except SparkJobError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(message))

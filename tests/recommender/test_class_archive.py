"""The Spark driver's class archive: built by the real job on a tiny crowd, then really used."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from recommender.training.spark_job import spark_class_archive_build

pytestmark = [pytest.mark.spark]


def _smoke(archive, java_options: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "SPARK_CLASS_ARCHIVE": str(archive), "SPARK_DRIVER_JAVA_OPTIONS": java_options}
    return subprocess.run(
        [sys.executable, "-m", "recommender.spark.smoke", "local[1]"],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_archive_is_built_once_and_a_jvm_starts_from_it(tmp_path, settings):
    settings.SPARK_CLASS_ARCHIVE = str(tmp_path / "spark" / "classes.jsa")

    built, message = spark_class_archive_build()

    archive = tmp_path / "spark" / "classes.jsa"
    assert built and archive.stat().st_size > 10 * 2**20, message
    assert list((tmp_path / "spark").iterdir()) == [archive]  # no temporary file left behind
    assert spark_class_archive_build() == (False, f"{archive} exists ({archive.stat().st_size / 2**20:.0f} MB)")
    # -Xshare:on makes a JVM that cannot map the archive refuse to start: this one starts.
    assert _smoke(archive, "-Xshare:on").returncode == 0
    # ...and the check can fail: a file that is not an archive stops the same JVM.
    bogus = tmp_path / "bogus.jsa"
    bogus.write_bytes(b"not an archive")
    assert _smoke(bogus, "-Xshare:on").returncode != 0


def test_an_empty_setting_turns_it_off(settings):
    settings.SPARK_CLASS_ARCHIVE = ""
    assert spark_class_archive_build() == (False, "SPARK_CLASS_ARCHIVE is empty: Spark starts without a class archive")

"""bench/bench_full.py end to end at a tiny scale: generate, import, refresh, crowd (and the
figures it reports), in a database of its own that it drops at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.catalog.importing_helpers import SAMPLE_DIR

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from bench_full import IMPORT_FILES  # noqa: E402

FILES = set(IMPORT_FILES)


def database_exists(name: str) -> bool:
    import psycopg2

    database = settings.DATABASES["default"]
    connection = psycopg2.connect(
        host=database["HOST"],
        port=database["PORT"],
        user=database["USER"],
        password=database["PASSWORD"],
        dbname="postgres",
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return cursor.fetchone() is not None
    finally:
        connection.close()


@pytest.mark.slow
def test_bench_full_at_a_tiny_scale_reports_every_step(tmp_path):
    database = f"{settings.DATABASES['default']['NAME']}_bench_full"
    figures = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, "bench/bench_full.py", "--scale", "0.0005", "--work", str(tmp_path / "work")]
        + ["--steps", "generate,import,refresh,crowd", "--database", database, "--real", str(SAMPLE_DIR)]
        + ["--json", str(figures), "--jobs", "2"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": os.environ.get("DATABASE_URL", "")},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(figures.read_text())

    imported = result["import"]["files"]
    assert set(imported) == FILES
    assert all(
        file["lines"] > 0 and file["rejected"] == 0 and file["rows_per_second"] > 0 for file in imported.values()
    )
    assert result["import"]["peak_rss_mb"] > 0 and result["import"]["cpu_seconds"] > 0
    sizes = result["import"]["sizes"]
    assert {"catalog_title", "catalog_titleaka", "catalog_principal"} <= {t["table"] for t in sizes["tables"]}
    assert any(index["index"] == "catalog_title_pkey" for index in sizes["indexes"])

    refresh = result["refresh"]
    assert refresh["exact"], refresh["mismatches"]
    assert all(refresh["files"][name]["updated"] > 0 for name in FILES - {"title.crew"})
    assert refresh["expected"]["title.principals"]["inserted"] == refresh["files"]["title.principals"]["inserted"]

    assert result["crowd"]["users"] == 200 and result["crowd"]["ratings"] > 0
    assert "bench-full at --scale 0.0005" in done.stdout and "EXACT" in done.stdout
    assert not database_exists(database)  # dropped at the end

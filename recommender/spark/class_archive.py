"""Build the Spark driver's class archive: ``python -m recommender.spark.class_archive ARCHIVE``.

Java's class data sharing maps the classes a JVM loaded from one file instead of loading and
verifying them again: with it the Spark session of every later training starts several seconds
sooner. This runs the real training job (``train_als``) on a tiny generated crowd, in a JVM
that writes the archive of every class it used when it exits, and publishes the file under
``ARCHIVE`` in one step. A JVM given an archive that is not its own (another Java or pyspark)
ignores it, so a stale file costs nothing but the time it saves.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def tiny_crowd(directory: Path, *, users: int = 300, items: int = 120, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    user = np.repeat(np.arange(1, users + 1, dtype=np.int32), 12)
    item = rng.integers(1, items + 1, len(user)).astype(np.int32)
    keep = np.unique(user.astype(np.int64) * 100_000 + item, return_index=True)[1]
    rating = rng.integers(1, 6, len(keep)).astype(np.float32)
    pq.write_table(pa.table({"user": user[keep], "item": item[keep], "rating": rating}), directory / "ratings.parquet")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    archive = Path(argv[0]).resolve()
    os.environ["SPARK_CLASS_ARCHIVE"] = str(archive)
    os.environ["SPARK_CLASS_ARCHIVE_WRITE"] = "1"
    from recommender.spark import train_als

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="class-archive-") as work:
        work_dir = Path(work)
        (work_dir / "input").mkdir()
        tiny_crowd(work_dir / "input")
        params = '{"rank": 4, "iterations": 2, "rating_rank": 4, "rating_iterations": 2, "top_n": 10, "similar_n": 5}'
        status = train_als.main(
            ["--input", str(work_dir / "input"), "--output", str(work_dir / "output"), "--params", params]
        )
    if status != 0 or not archive.is_file():
        print(f"the class archive was not built (job exit status {status})", file=sys.stderr)
        return 1
    print(
        f"class archive {archive} ({archive.stat().st_size / 2**20:.0f} MB) built in "
        f"{time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

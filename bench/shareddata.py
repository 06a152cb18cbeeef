"""Where the real data folder is (IMDb slices, fixtures, MovieLens; its README says what): the
one place benchmarks and tests read ``IMDBREC_SHARED_DATA``.

A worktree kept outside the folder that holds ``shared/`` points at it with
``IMDBREC_SHARED_DATA``; otherwise it is ``../shared/data`` beside the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("IMDBREC_SHARED_DATA") or ROOT.parent / "shared" / "data")
IMDB_SLICE = SHARED_DATA / "imdb-sample"
MOVIELENS_SMALL = SHARED_DATA / "movielens-latest-small"

# How the IMDb files read with pandas: every field as text, ``\N`` (IMDB_NULL) kept as it is.
IMDB_TSV = {"sep": "\t", "quoting": 3, "dtype": str, "keep_default_na": False}
IMDB_NULL = "\\N"


def imdb_titles_frame(directory: Path):
    """title.basics joined with title.ratings of the IMDb files in ``directory`` (a slice), as
    catalog_title's columns for ``COPY ... WITH (FORMAT csv)`` (an empty field is NULL): titles
    straight into the table, without the importer, for benchmarks and tests that need many."""
    import pandas as pd  # here: the test suite's conftest imports this module

    basics = pd.read_csv(directory / "title.basics.tsv.gz", **IMDB_TSV)
    ratings = pd.read_csv(directory / "title.ratings.tsv.gz", **IMDB_TSV)
    titles = basics.merge(ratings, on="tconst", how="left")
    return pd.DataFrame(
        {
            "tconst": titles.tconst,
            "title_type": titles.titleType,
            "primary_title": titles.primaryTitle,
            "original_title": titles.originalTitle,
            "is_adult": titles.isAdult.eq("1"),
            "start_year": titles.startYear.replace(IMDB_NULL, ""),
            "runtime_minutes": titles.runtimeMinutes.replace(IMDB_NULL, ""),
            "genres": "{" + titles.genres.replace(IMDB_NULL, "") + "}",
            "average_rating": titles.averageRating.fillna(""),
            "num_votes": titles.numVotes.fillna("0"),
        }
    )


def weighted_rating_mean_set(cursor, frame) -> None:
    """Set the weighted rating's C (catalog migration 0010) to the mean rating of ``frame``'s
    rated titles (an ``imdb_titles_frame``) before copying it, as the importer's ratings sync
    does: with C unset the row trigger averages the whole table for each row copied, which
    makes a COPY of 50,000 titles take minutes instead of seconds."""
    import pandas as pd

    votes = pd.to_numeric(frame.num_votes, errors="coerce").fillna(0)
    rated = pd.to_numeric(frame.average_rating, errors="coerce")[votes > 0].dropna()
    if len(rated):
        cursor.execute("UPDATE catalog_weightedrating SET mean = %s", [round(float(rated.mean()), 2)])

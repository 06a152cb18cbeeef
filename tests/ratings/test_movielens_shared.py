"""MovieLens ml-latest-small against titles of the real IMDb slice (../shared/data)."""

import io

import numpy as np
import pandas as pd
import pytest
from django.db import connection
from shareddata import imdb_titles_frame, weighted_rating_mean_set  # bench/, on the path from tests/conftest.py

from accounts.models import User
from ratings.models import Rating
from ratings.movielens import movielens_import

pytestmark = pytest.mark.shared_data


def imdb_titles_load(directory) -> int:
    """title.basics joined with title.ratings from the slice into catalog_title, with COPY."""
    frame = imdb_titles_frame(directory)
    body = io.StringIO()
    frame.to_csv(body, index=False, header=False)
    body.seek(0)
    with connection.cursor() as cursor:
        weighted_rating_mean_set(cursor, frame)  # else the row trigger makes this COPY take minutes
        cursor.copy_expert(f"COPY catalog_title ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv)", body)
    return len(frame)


@pytest.mark.django_db
def test_ml_latest_small_against_the_imdb_slice(shared_data):
    assert imdb_titles_load(shared_data / "imdb-sample") == 50_001
    release = shared_data / "movielens-latest-small"
    report = movielens_import(directory=release)

    # The same import computed independently with pandas.
    links = pd.read_csv(release / "links.csv", dtype={"imdbId": str})
    ratings = pd.read_csv(release / "ratings.csv")
    catalog = set(
        pd.read_csv(shared_data / "imdb-sample" / "title.basics.tsv.gz", sep="\t", quoting=3, usecols=["tconst"]).tconst
    )
    links["tconst"] = "tt" + links.imdbId.astype(int).astype(str).str.zfill(7)
    joined = ratings.merge(links[["movieId", "tconst"]], on="movieId", how="left")
    kept = (
        joined[joined.tconst.isin(catalog)].sort_values("timestamp").drop_duplicates(["userId", "tconst"], keep="last")
    )
    expected = {(str(row.userId), row.tconst): int(np.floor(row.rating + 0.5)) for row in kept.itertuples()}

    assert report.lines == len(ratings) == 100_836
    assert report.rejected == 0
    assert report.ratings_created == len(expected) == 3281
    assert report.users_created == kept.userId.nunique() == 332
    missing = joined[~joined.tconst.isin(catalog)]
    assert report.movies_not_in_catalog == missing.movieId.nunique()
    assert report.ratings_not_in_catalog == len(missing)
    imported = {
        (external_id, tconst): score
        for external_id, tconst, score in Rating.objects.filter(user__kind=User.Kind.MOVIELENS).values_list(
            "user__external_id", "title_id", "score"
        )
    }
    assert imported == expected

    again = movielens_import(directory=release)
    assert (again.ratings_created, again.ratings_updated, again.users_created) == (0, 0, 0)
    assert Rating.objects.count() == 3281

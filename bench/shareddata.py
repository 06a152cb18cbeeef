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

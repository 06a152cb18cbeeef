"""The ratings on the driver and the exchange location's paths.

``Ratings`` holds ratings as numpy arrays (what the job reads from ``ratings.parquet``,
``exclusions.parquet`` and ``holdout.parquet``); ``local_path`` checks that a path is one the driver
and the executors both mount (DESIGN.md §7) and ``parquet_path`` names a new file there. numpy and
pyarrow only: the executor passes import this module too.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


@dataclass
class Ratings:
    """Ratings as numpy arrays on the driver (12 bytes a rating: 100 million fit in 1.2 GB)."""

    user: np.ndarray  # int32
    item: np.ndarray  # int32
    rating: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.user)

    def subset(self, mask: np.ndarray) -> Ratings:
        return Ratings(self.user[mask], self.item[mask], self.rating[mask])

    def concat(self, other: Ratings) -> Ratings:
        return Ratings(
            *(
                np.concatenate([a, b])
                for a, b in ((self.user, other.user), (self.item, other.item), (self.rating, other.rating))
            )
        )


def local_path(path: str) -> str:
    if "://" in path and not path.startswith("file://"):
        raise ValueError(
            f"{path}: the exchange location must be a path mounted on the driver and the executors "
            "(see recommender/DESIGN.md §7)"
        )
    return path.removeprefix("file://")


def ratings_load(path: str, *, with_rating: bool = True) -> Ratings:
    table = pq.read_table(local_path(path))
    user = table.column("user").to_numpy().astype(np.int32)
    item = table.column("item").to_numpy().astype(np.int32)
    rating = (
        table.column("rating").to_numpy().astype(np.float32) if with_rating else np.zeros(len(user), dtype=np.float32)
    )
    return Ratings(user, item, rating)


_files = itertools.count()


def parquet_path(work_dir: str, name: str) -> str:
    """A new file name under ``work_dir`` (a file Spark read lazily is never overwritten)."""
    directory = Path(local_path(work_dir))
    directory.mkdir(parents=True, exist_ok=True)
    return str(directory / f"{name}-{next(_files)}.parquet")

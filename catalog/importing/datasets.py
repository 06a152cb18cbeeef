"""The seven IMDb files: their header, the table each fills, its key and its converter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from catalog.importing import convert


@dataclass(frozen=True)
class Dataset:
    name: str
    header: tuple[str, ...]
    table: str
    # Columns written by COPY, in the converter's output order.
    columns: tuple[str, ...]
    # The natural key of a table row (the ON CONFLICT target).
    key: tuple[str, ...]
    # Columns an update may change (compared to decide whether a row changed).
    compare: tuple[str, ...]
    convert: Callable[[list[bytes], int, convert.Context], list[bytes]]
    # What identifies one line of the file, when a line can give several rows (title.crew).
    line_key: tuple[str, ...] = ()
    # Staging rows with this column NULL stand for a line without rows (title.crew).
    marker_column: str = ""
    # The converter checks that line keys ascend (Context.keys_ascending) when numbering rows.
    checks_key_order: bool = True
    # One row per line and a surrogate ``id``: a first load uses the line numbers as ids
    # (unique, and cheaper than a sequence call per row).
    line_is_id: bool = False
    # (flag, group, value): the converter sets ``flag`` on the first line of each ``group`` with
    # this ``value`` (TitleAka.name_first); lines dropped as repeated keys make the loader
    # recompute it for their group.
    first_flag: tuple[str, str, str] | tuple[()] = ()

    @property
    def keys_of_line(self) -> tuple[str, ...]:
        return self.line_key or self.key

    def path_in(self, directory: Path) -> Path | None:
        """The file for this dataset in ``directory`` (``.tsv.gz`` preferred over ``.tsv``)."""
        for suffix in (".tsv.gz", ".tsv"):
            candidate = Path(directory) / f"{self.name}{suffix}"
            if candidate.is_file():
                return candidate
        return None


# Load order: title.ratings before title.basics, so that a first load copies the ratings into
# the titles before their indexes are built, rather than updating millions of indexed rows after.
DATASETS: tuple[Dataset, ...] = (
    Dataset(
        name="name.basics",
        header=("nconst", "primaryName", "birthYear", "deathYear", "primaryProfession", "knownForTitles"),
        table="catalog_person",
        columns=("nconst", "primary_name", "birth_year", "death_year", "primary_profession", "known_for_titles"),
        key=("nconst",),
        compare=("primary_name", "birth_year", "death_year", "primary_profession", "known_for_titles"),
        convert=convert.convert_name_basics,
    ),
    Dataset(
        name="title.ratings",
        header=("tconst", "averageRating", "numVotes"),
        table="catalog_titlerating",
        columns=("title_id", "average_rating", "num_votes"),
        key=("title_id",),
        compare=("average_rating", "num_votes"),
        convert=convert.convert_title_ratings,
    ),
    Dataset(
        name="title.basics",
        header=(
            "tconst",
            "titleType",
            "primaryTitle",
            "originalTitle",
            "isAdult",
            "startYear",
            "endYear",
            "runtimeMinutes",
            "genres",
        ),
        table="catalog_title",
        columns=(
            "tconst",
            "title_type",
            "primary_title",
            "original_title",
            "is_adult",
            "start_year",
            "end_year",
            "runtime_minutes",
            "genres",
            "num_votes",
        ),
        key=("tconst",),
        # average_rating and num_votes come from title.ratings, kept in sync separately
        compare=(
            "title_type",
            "primary_title",
            "original_title",
            "is_adult",
            "start_year",
            "end_year",
            "runtime_minutes",
            "genres",
        ),
        convert=convert.convert_title_basics,
    ),
    Dataset(
        name="title.akas",
        header=("titleId", "ordering", "title", "region", "language", "types", "attributes", "isOriginalTitle"),
        table="catalog_titleaka",
        columns=(
            "title_id",
            "ordering",
            "aka_title",
            "region",
            "language",
            "types",
            "attributes",
            "is_original_title",
            "name_first",
        ),
        key=("title_id", "ordering"),
        # name_first is compared too: when the first of two equal akas goes, the second becomes first
        compare=("aka_title", "region", "language", "types", "attributes", "is_original_title", "name_first"),
        convert=convert.convert_title_akas,
        checks_key_order=False,
        line_is_id=True,
        first_flag=("name_first", "title_id", "aka_title"),
    ),
    Dataset(
        name="title.crew",
        header=("tconst", "directors", "writers"),
        table="catalog_crew",
        columns=("title_id", "person_id", "role", "ordering"),
        key=("title_id", "person_id", "role"),
        compare=("ordering",),
        convert=convert.convert_title_crew,
        line_key=("title_id",),
        marker_column="person_id",
    ),
    Dataset(
        name="title.episode",
        header=("tconst", "parentTconst", "seasonNumber", "episodeNumber"),
        table="catalog_episode",
        columns=("title_id", "parent_id", "season_number", "episode_number"),
        key=("title_id",),
        compare=("parent_id", "season_number", "episode_number"),
        convert=convert.convert_title_episode,
    ),
    Dataset(
        name="title.principals",
        header=("tconst", "ordering", "nconst", "category", "job", "characters"),
        table="catalog_principal",
        columns=("title_id", "ordering", "person_id", "category", "job", "characters"),
        key=("title_id", "ordering"),
        compare=("person_id", "category", "job", "characters"),
        convert=convert.convert_title_principals,
        checks_key_order=False,
        line_is_id=True,
    ),
)

DATASETS_BY_NAME = {dataset.name: dataset for dataset in DATASETS}
DATASET_NAMES = tuple(DATASETS_BY_NAME)


def datasets_named(names: list[str] | tuple[str, ...] | None) -> list[Dataset]:
    """The datasets asked for, in load order; unknown names raise ValueError."""
    if not names:
        return list(DATASETS)
    unknown = sorted(set(names) - set(DATASETS_BY_NAME))
    if unknown:
        raise ValueError(f"unknown IMDb file(s): {', '.join(unknown)}; known: {', '.join(DATASET_NAMES)}")
    return [dataset for dataset in DATASETS if dataset.name in names]

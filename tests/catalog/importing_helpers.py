"""Helpers for the import tests: run an import, write IMDb-format files, snapshot the tables."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from django.conf import settings

from catalog.importing.loader import LoadOptions
from catalog.models import Crew, Episode, ImportRun, Person, Principal, Title, TitleAka, TitleRating
from catalog.services import import_run_create, import_run_execute

SAMPLE_DIR = Path(settings.IMDB_SAMPLE_DIR)
CATALOG_MODELS = (Title, TitleRating, Person, TitleAka, Crew, Episode, Principal)
HEADERS = {
    "title.basics": "tconst\ttitleType\tprimaryTitle\toriginalTitle\tisAdult\tstartYear\tendYear\truntimeMinutes\tgenres",
    "name.basics": "nconst\tprimaryName\tbirthYear\tdeathYear\tprimaryProfession\tknownForTitles",
    "title.ratings": "tconst\taverageRating\tnumVotes",
    "title.akas": "titleId\tordering\ttitle\tregion\tlanguage\ttypes\tattributes\tisOriginalTitle",
    "title.crew": "tconst\tdirectors\twriters",
    "title.episode": "tconst\tparentTconst\tseasonNumber\tepisodeNumber",
    "title.principals": "tconst\tordering\tnconst\tcategory\tjob\tcharacters",
}


def run_import(source, files=None, *, listener=None, **options) -> ImportRun:
    run = import_run_create(source=str(source), files=files)
    return import_run_execute(run_id=run.pk, on_progress=listener, options=LoadOptions(**options))


def write_file(
    directory: Path,
    name: str,
    lines: list[bytes] | list[str],
    *,
    header: bool = True,
    gz: bool = False,
    final_newline: bool = True,
) -> Path:
    """Write an IMDb file from data lines (bytes kept exactly; str encoded as UTF-8)."""
    body = [line.encode() if isinstance(line, str) else line for line in lines]
    if header:
        body.insert(0, HEADERS[name].encode())
    data = b"\n".join(body) + (b"\n" if final_newline else b"")
    path = Path(directory) / f"{name}.tsv{'.gz' if gz else ''}"
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def sample_lines(name: str) -> list[bytes]:
    """Data lines of the bundled sample's file, without the header."""
    with gzip.open(SAMPLE_DIR / f"{name}.tsv.gz", "rb") as stream:
        return stream.read().split(b"\n")[1:-1]


def copy_files(source: Path, target: Path, names: list[str]) -> None:
    for name in names:
        for suffix in (".tsv.gz", ".tsv"):
            if (source / f"{name}{suffix}").exists():
                shutil.copy(source / f"{name}{suffix}", target / f"{name}{suffix}")


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every catalog table, comparable before and after an import."""
    return {
        model.__name__: sorted(
            tuple(str(value) for value in row)
            for row in model.objects.values_list(*[f.attname for f in model._meta.concrete_fields if f.attname != "id"])
        )
        for model in CATALOG_MODELS
    }


def split(line: bytes) -> list[str]:
    return line.decode("utf-8").split("\t")


def data_lines(path: Path) -> list[bytes]:
    """The lines of an IMDb file, gzipped or not, without its header."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as stream:
        return stream.read().split(b"\n")[1:-1]


# The tables that get one row per line of their file (title.crew gives a row per person named).
MODELS_BY_FILE = (
    (Title, "title.basics"),
    (Person, "name.basics"),
    (TitleAka, "title.akas"),
    (Episode, "title.episode"),
    (Principal, "title.principals"),
    (TitleRating, "title.ratings"),
)


def crew_relations(path: Path) -> set[tuple[str, str, str]]:
    """(tconst, nconst, "director" or "writer") for each person a title.crew file names: the rows
    of catalog_crew it must give."""
    relations = set()
    for line in data_lines(path):
        tconst, directors, writers = split(line)
        for role, people in (("director", directors), ("writer", writers)):
            relations.update((tconst, person, role) for person in people.split(",") if person != r"\N")
    return relations

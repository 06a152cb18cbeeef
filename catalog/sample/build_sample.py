"""Build the bundled demo sample from a slice of IMDb's official files.

    python catalog/sample/build_sample.py [--source ../shared/data/imdb-sample] [--movies 4000]

Keeps the most-voted movies (title.ratings joined with title.basics, titleType "movie"), plus
every rated movie that has cast rows in the slice (the slice's title.principals stops in the
silent era, so without them almost no title page would show a cast), and every row of the
other files that refers to them: their ratings, alternative titles, crew,
principals and episodes, and the people those rows name (or who are known for one of them).
Rows are copied byte for byte, in the files' order, so the sample is in IMDb's own format.
Output is gzip with a fixed timestamp: rebuilding from the same input gives identical files.
"""

from __future__ import annotations

import argparse
import gzip
import heapq
import io
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[2] / "shared" / "data" / "imdb-sample"


def _lines(path: Path):
    with gzip.open(path, "rb") as stream:
        yield from stream  # the header first


def _fields(line: bytes) -> list[bytes]:
    return line.rstrip(b"\n").split(b"\t")


def _write(target: Path, lines: list[bytes]) -> int:
    buffer = io.BytesIO()
    # mtime=0 and no file name in the header: the same rows always give the same bytes
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as stream:
        stream.writelines(lines)
    target.write_bytes(buffer.getvalue())
    return len(buffer.getvalue())


def _select(source: Path, name: str, keep) -> list[bytes]:
    lines = _lines(source / f"{name}.tsv.gz")
    selected = [next(lines)]
    selected += [line for line in lines if keep(_fields(line))]
    return selected


def build(source: Path, output: Path, movies: int, with_cast: bool = True) -> dict[str, tuple[int, int]]:
    movie_ids = {
        fields[0] for fields in map(_fields, list(_lines(source / "title.basics.tsv.gz"))[1:]) if fields[1] == b"movie"
    }
    votes = [
        (int(fields[2]), fields[0])
        for fields in map(_fields, list(_lines(source / "title.ratings.tsv.gz"))[1:])
        if fields[0] in movie_ids
    ]
    chosen = {tconst for _votes, tconst in heapq.nlargest(movies, votes)}
    if with_cast:
        rated = {tconst for _votes, tconst in votes}
        chosen |= {
            fields[0]
            for fields in map(_fields, list(_lines(source / "title.principals.tsv.gz"))[1:])
            if fields[0] in rated
        }

    files = {
        "title.basics": _select(source, "title.basics", lambda f: f[0] in chosen),
        "title.ratings": _select(source, "title.ratings", lambda f: f[0] in chosen),
        "title.akas": _select(source, "title.akas", lambda f: f[0] in chosen),
        "title.crew": _select(source, "title.crew", lambda f: f[0] in chosen),
        "title.episode": _select(source, "title.episode", lambda f: f[0] in chosen or f[1] in chosen),
        "title.principals": _select(source, "title.principals", lambda f: f[0] in chosen),
    }
    people = {fields[2] for fields in map(_fields, files["title.principals"][1:])}
    for fields in map(_fields, files["title.crew"][1:]):
        for column in fields[1:3]:
            if column != b"\\N":
                people.update(column.split(b","))
    files["name.basics"] = _select(
        source, "name.basics", lambda f: f[0] in people or bool(chosen.intersection(f[5].split(b",")))
    )

    output.mkdir(parents=True, exist_ok=True)
    return {name: (len(lines) - 1, _write(output / f"{name}.tsv.gz", lines)) for name, lines in files.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="directory with the seven .tsv.gz files")
    parser.add_argument("--output", type=Path, default=HERE, help="where to write the sample (default: here)")
    parser.add_argument("--movies", type=int, default=4000, help="how many of the most-voted movies to keep")
    parser.add_argument("--without-cast", action="store_true", help="only the most-voted movies")
    args = parser.parse_args()
    sizes = build(args.source, args.output, args.movies, with_cast=not args.without_cast)
    for name, (rows, size) in sizes.items():
        print(f"{name}.tsv.gz: {rows:,} rows, {size / 1024:,.0f} KiB")
    print(f"total: {sum(size for _rows, size in sizes.values()) / 1024 / 1024:.2f} MiB compressed")


if __name__ == "__main__":
    main()

"""bench/imdb_generate.py at a tiny scale: deterministic, IMDb's format, real rows kept, references
resolved, heavy tails present, and an import of the result that loads every row."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from catalog.importing.datasets import DATASETS, DATASETS_BY_NAME
from catalog.importing.loader import check_file
from catalog.models import Crew, ImportReject, ImportRun
from tests.catalog.importing_helpers import MODELS_BY_FILE, crew_relations, data_lines, run_import

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from imdbgen.realdata import script_of  # noqa: E402

GENERATOR = ROOT / "bench" / "imdb_generate.py"
SCALE = "0.0005"  # about 6,000 new titles, 27,000 akas, 49,000 principals, 7,500 people
SEED = "3"
NAMES = [dataset.name for dataset in DATASETS]
# The tails the tiny scale must show (at full size: 10,000+ credits and episodes, 200+ akas).
TAILS = {"series episodes": 200, "person credits": 200, "title akas": 200, "aka scripts": 6}


def generate(out: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--scale", SCALE, "--seed", SEED, "--out", str(out), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def real_dir(shared_data) -> Path:
    return shared_data / "imdb-sample"


@pytest.fixture(scope="module")
def dump(tmp_path_factory, real_dir) -> Path:
    out = tmp_path_factory.mktemp("imdb-generated")
    generate(out, "--real", str(real_dir))
    return out


@pytest.fixture(scope="module")
def generated(dump, real_dir) -> dict[str, list[list[str]]]:
    """The generated rows of each file (after the real ones), split into fields."""
    rows = {}
    for name in NAMES:
        real = len(data_lines(real_dir / f"{name}.tsv.gz"))
        rows[name] = [line.decode().split("\t") for line in data_lines(dump / f"{name}.tsv.gz")[real:]]
    return rows


@pytest.mark.shared_data
def test_same_seed_same_bytes_and_another_seed_differs(dump, real_dir, tmp_path):
    generate(tmp_path / "again", "--real", str(real_dir))
    for name in NAMES:
        assert (tmp_path / "again" / f"{name}.tsv.gz").read_bytes() == (dump / f"{name}.tsv.gz").read_bytes(), name

    subprocess.run(
        [sys.executable, str(GENERATOR), "--scale", SCALE, "--seed", "4", "--out", str(tmp_path / "other")]
        + ["--real", str(real_dir), "--files", "title.basics"],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "other" / "title.basics.tsv.gz").read_bytes() != (dump / "title.basics.tsv.gz").read_bytes()
    assert not (tmp_path / "other" / "title.akas.tsv.gz").exists()


@pytest.mark.shared_data
@pytest.mark.parametrize("name", NAMES)
def test_official_format_read_by_the_importer_without_a_reject(dump, name):
    path = dump / f"{name}.tsv.gz"
    raw = gzip.decompress(path.read_bytes())
    assert raw.split(b"\n", 1)[0].decode() == "\t".join(DATASETS_BY_NAME[name].header)
    assert raw.endswith(b"\n") and b"\r" not in raw
    raw.decode("utf-8")

    result, rejects = check_file(dataset=DATASETS_BY_NAME[name], path=path)

    assert rejects == [] and result.rejected == 0
    assert result.lines == raw.count(b"\n") - 1


@pytest.mark.shared_data
@pytest.mark.parametrize("name", NAMES)
def test_real_rows_first_and_unchanged_then_new_ids_ascending(dump, real_dir, generated, name):
    real = data_lines(real_dir / f"{name}.tsv.gz")
    lines = data_lines(dump / f"{name}.tsv.gz")
    assert lines[: len(real)] == real
    assert generated[name], name

    prefix = "nm" if name == "name.basics" else "tt"
    real_ids = {int(line.split(b"\t")[0][2:]) for line in real}
    keys = [
        (int(fields[0][2:]), int(fields[1]) if name in ("title.akas", "title.principals") else 0)
        for fields in generated[name]
    ]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(fields[0].startswith(prefix) for fields in generated[name])
    assert keys[0][0] > max(real_ids)


@pytest.mark.shared_data
def test_every_generated_reference_resolves(dump, generated):
    titles = {line.split(b"\t")[0].decode() for line in data_lines(dump / "title.basics.tsv.gz")}
    people = {line.split(b"\t")[0].decode() for line in data_lines(dump / "name.basics.tsv.gz")}
    missing = Counter()
    for fields in generated["title.akas"] + generated["title.ratings"] + generated["title.crew"]:
        missing["title"] += fields[0] not in titles
    for _tconst, directors, writers in generated["title.crew"]:
        for nconst in f"{directors},{writers}".split(","):
            missing["crew person"] += nconst != r"\N" and nconst not in people
    for tconst, parent, _season, _episode in generated["title.episode"]:
        missing["episode"] += tconst not in titles or parent not in titles
    for tconst, _ordering, nconst, *_ in generated["title.principals"]:
        missing["principal"] += tconst not in titles or nconst not in people
    for fields in generated["name.basics"]:
        missing["known for"] += sum(t not in titles for t in fields[5].split(",") if t != r"\N")
    assert sum(missing.values()) == 0, missing
    series = {fields[0] for fields in generated["title.basics"] if fields[1] in ("tvSeries", "tvMiniSeries")}
    assert {fields[1] for fields in generated["title.episode"]} <= series


@pytest.mark.shared_data
def test_types_ratings_and_words_look_like_imdb(generated):
    basics = generated["title.basics"]
    types = Counter(fields[1] for fields in basics)
    assert 0.70 < types["tvEpisode"] / len(basics) < 0.76
    assert types["short"] > types["movie"] > types["tvSeries"] > 0
    assert len(generated["title.episode"]) == types["tvEpisode"]
    assert 0.10 < len(generated["title.ratings"]) / len(basics) < 0.16
    votes = sorted(int(fields[2]) for fields in generated["title.ratings"])
    assert votes[0] >= 5 and votes[len(votes) // 2] < 1000 < votes[-1] // 10  # heavy-tailed
    words = Counter(word for fields in basics for word in fields[2].split())
    assert len(words) > 3000  # a vocabulary, not a few strings repeated
    assert words.most_common(1)[0][0] in ("The", "the", "of", "Episode")
    assert any(len(fields[2]) > 150 for fields in basics)
    assert sum(fields[3] != fields[2] for fields in basics) > len(basics) * 0.05
    for fields in generated["title.principals"]:
        if fields[5] != r"\N":
            assert isinstance(json.loads(fields[5]), list)


@pytest.mark.shared_data
@pytest.mark.parametrize("tail", sorted(TAILS))
def test_heavy_tails_exist_at_the_tiny_scale(generated, tail):
    if tail == "series episodes":
        biggest = max(Counter(fields[1] for fields in generated["title.episode"]).values())
    elif tail == "person credits":
        biggest = max(Counter(fields[2] for fields in generated["title.principals"]).values())
    elif tail == "title akas":
        biggest = max(Counter(fields[0] for fields in generated["title.akas"]).values())
    else:
        counts = Counter(fields[0] for fields in generated["title.akas"])
        tconst = counts.most_common(1)[0][0]
        biggest = len({script_of(fields[2]) for fields in generated["title.akas"] if fields[0] == tconst} - {"LATIN"})
    assert biggest >= TAILS[tail], f"{tail}: {biggest}"


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.django_db
def test_the_generated_dump_imports_with_every_row(dump):
    run = run_import(dump)

    assert run.status == ImportRun.Status.SUCCEEDED, run.error
    assert not ImportReject.objects.filter(run=run).exists()
    lines = {name: len(data_lines(dump / f"{name}.tsv.gz")) for name in NAMES}
    for name, result in run.counts.items():
        assert (result["lines"], result["loaded"], result["rejected"]) == (lines[name], lines[name], 0), name
    for model, name in MODELS_BY_FILE:
        assert model.objects.count() == lines[name], name
    assert Crew.objects.count() == len(crew_relations(dump / "title.crew.tsv.gz"))


def test_bundled_sample_is_enough_without_the_shared_data(tmp_path):
    """A user's clone has no shared slice: the generator falls back to catalog/sample."""
    out = generate(tmp_path, "--real", str(ROOT / "catalog" / "sample"), "--files", "title.basics,title.principals")
    assert "title.principals.tsv.gz" in out and "peak RSS" in out
    for name in ("title.basics", "title.principals"):
        result, rejects = check_file(dataset=DATASETS_BY_NAME[name], path=tmp_path / f"{name}.tsv.gz")
        assert rejects == [] and result.lines > 4000

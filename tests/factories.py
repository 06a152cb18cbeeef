"""Model rows made with the ORM for tests: small, explicit, cross-linked like IMDb's files.

The one home of the suite's factories (titles, people, their credits); the fixtures that hand
them out (``title_factory``, ``user_factory``) are in ``tests/conftest.py``.
"""

from __future__ import annotations

import itertools

from django.db import connection

from catalog.importing.loader import title_weighted_rating_rewrite
from catalog.models import Crew, Episode, Person, Principal, Title, TitleAka
from catalog.search_table import title_search_table_rebuild

_numbers = itertools.count(9_000_001)


def next_tconst() -> str:
    return f"tt{next(_numbers):07d}"


def next_nconst() -> str:
    return f"nm{next(_numbers):07d}"


def title_build(tconst: str | None = None, **fields) -> Title:
    """An unsaved ``Title`` with the suite's defaults, for ``bulk_create`` of many."""
    fields.setdefault("title_type", "movie")
    fields.setdefault("primary_title", f"Title {tconst or ''}".strip())
    fields.setdefault("original_title", fields["primary_title"])
    fields.setdefault("genres", ["Drama"])
    fields.setdefault("start_year", 1950)
    fields.setdefault("runtime_minutes", 95)
    if "average_rating" in fields and "num_votes" not in fields:
        fields["num_votes"] = 100
    return Title(tconst=tconst or next_tconst(), **fields)


def make_title(tconst: str | None = None, **fields) -> Title:
    title = title_build(tconst, **fields)
    title.save(force_insert=True)
    return title


def make_person(nconst: str | None = None, **fields) -> Person:
    fields.setdefault("primary_name", "Some Person")
    fields.setdefault("primary_profession", ["actor"])
    return Person.objects.create(nconst=nconst or next_nconst(), **fields)


def make_aka(
    title: Title | str, aka_title: str, *, region: str = "", language: str = "", ordering: int | None = None, **fields
) -> TitleAka:
    title_id = title if isinstance(title, str) else title.tconst
    if ordering is None:
        ordering = TitleAka.objects.filter(title_id=title_id).count() + 1
    return TitleAka.objects.create(
        title_id=title_id, aka_title=aka_title, region=region, language=language, ordering=ordering, **fields
    )


def make_principal(
    title: Title,
    person: Person | str,
    *,
    category: str = "actor",
    characters=(),
    job: str = "",
    ordering: int | None = None,
) -> Principal:
    person_id = person if isinstance(person, str) else person.nconst
    if ordering is None:
        ordering = Principal.objects.filter(title_id=title.tconst).count() + 1
    return Principal.objects.create(
        title_id=title.tconst,
        person_id=person_id,
        category=category,
        characters=list(characters),
        job=job,
        ordering=ordering,
    )


def make_crew(title: Title, person: Person | str, role: str, ordering: int = 1) -> Crew:
    person_id = person if isinstance(person, str) else person.nconst
    return Crew.objects.create(title_id=title.tconst, person_id=person_id, role=role, ordering=ordering)


def make_episode(parent: Title | str, season: int | None, number: int | None, **fields) -> Title:
    parent_id = parent if isinstance(parent, str) else parent.tconst
    fields.setdefault("title_type", "tvEpisode")
    fields.setdefault("primary_title", f"Episode {season}.{number}")
    episode = make_title(**fields)
    Episode.objects.create(title_id=episode.tconst, parent_id=parent_id, season_number=season, episode_number=number)
    return episode


def weighted_rating_refresh() -> None:
    """What an import's ratings sync does for the weighted rating (``Title.weighted_rating``): C
    set to the mean rating of the titles made so far, every key rewritten. The table holding C
    has no model, so a flush between live-server tests does not reset it either."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_weightedrating SET mean = (SELECT round(avg(average_rating), 2) FROM catalog_title"
            " WHERE num_votes > 0 AND average_rating IS NOT NULL)"
        )
        title_weighted_rating_rewrite(cursor)


def make_small_catalog() -> dict:
    """A coherent little world: Casablanca and namesakes, a series with two seasons, people with
    dangling references, akas in several regions."""
    bogart = make_person(
        "nm0000007",
        primary_name="Humphrey Bogart",
        birth_year=1899,
        death_year=1957,
        primary_profession=["actor", "producer", "soundtrack"],
        known_for_titles=["tt0034583", "tt0099999"],
    )
    bergman = make_person(
        "nm0000006", primary_name="Ingrid Bergman", birth_year=1915, death_year=1982, primary_profession=["actress"]
    )
    curtiz = make_person(
        "nm0002031",
        primary_name="Michael Curtiz",
        birth_year=1886,
        death_year=1962,
        primary_profession=["director", "writer"],
    )
    casablanca = make_title(
        "tt0034583",
        primary_title="Casablanca",
        original_title="Casablanca",
        start_year=1942,
        runtime_minutes=102,
        genres=["Drama", "Romance", "War"],
        average_rating="8.5",
        num_votes=637_545,
    )
    casablanca_tv = make_title(
        "tt0047719",
        title_type="tvSeries",
        primary_title="Casablanca",
        start_year=1955,
        end_year=1956,
        runtime_minutes=60,
        genres=["Drama"],
        average_rating="6.4",
        num_votes=96,
    )
    night = make_title(
        "tt0038777",
        primary_title="A Night in Casablanca",
        start_year=1946,
        genres=["Comedy", "Family"],
        average_rating="6.9",
        num_votes=7_854,
    )
    samurai = make_title(
        "tt0047478",
        primary_title="Seven Samurai",
        original_title="Shichinin no samurai",
        start_year=1954,
        runtime_minutes=207,
        genres=["Action", "Drama"],
        average_rating="8.6",
        num_votes=389_038,
    )
    amelie = make_title(
        "tt0211915",
        primary_title="Amélie",
        original_title="Le fabuleux destin d'Amélie Poulain",
        start_year=2001,
        genres=["Comedy", "Romance"],
        average_rating="8.3",
        num_votes=800_000,
    )
    make_aka(casablanca, "Casablanca", region="US", ordering=1)
    make_aka(casablanca, "Casablanca", region="FR", language="fr", ordering=2)
    make_aka(casablanca, "Καζαμπλάνκα", region="GR", ordering=3)
    make_aka(samurai, "Die sieben Samurai", region="DE", ordering=1)
    make_aka(samurai, "Les Sept Samouraïs", region="FR", ordering=2)
    make_aka(amelie, "Die fabelhafte Welt der Amélie", region="DE", ordering=1)
    make_crew(casablanca, curtiz, Crew.Role.DIRECTOR)
    make_crew(casablanca, "nm0000404", Crew.Role.WRITER, ordering=1)  # dangling: not in name.basics
    make_crew(casablanca, curtiz, Crew.Role.WRITER, ordering=2)
    make_principal(casablanca, bogart, characters=["Rick Blaine"], ordering=1)
    make_principal(casablanca, bergman, category="actress", characters=["Ilsa Lund"], ordering=2)
    make_principal(casablanca, "nm0000505", characters=["Captain Louis Renault"], ordering=3)  # dangling
    make_principal(casablanca, curtiz, category="director", ordering=4)
    make_principal(casablanca, "nm0000606", category="composer", job="music by", ordering=5)
    series = make_title(
        "tt0098904",
        title_type="tvSeries",
        primary_title="Seinfeld",
        start_year=1989,
        end_year=1998,
        runtime_minutes=22,
        genres=["Comedy"],
        average_rating="8.9",
        num_votes=350_000,
    )
    episodes = [
        make_episode(series, 1, 1, primary_title="The Seinfeld Chronicles", start_year=1989, average_rating="7.5"),
        make_episode(series, 1, 2, primary_title="The Stake Out", start_year=1990, average_rating="7.7"),
        make_episode(series, 2, 1, primary_title="The Ex-Girlfriend", start_year=1991, average_rating="7.6"),
    ]
    Episode.objects.create(title_id="tt0000777", parent_id=series.tconst, season_number=3, episode_number=1)  # dangling
    orphan = make_episode("tt0000888", 4, 2, primary_title="An Episode of a Missing Series", start_year=1960)
    # The search table is derived data with no model, so a flush between live-server tests leaves
    # whatever an earlier test committed in it: rebuilt here, as an import would.
    title_search_table_rebuild()
    weighted_rating_refresh()
    return {
        "casablanca": casablanca,
        "casablanca_tv": casablanca_tv,
        "night": night,
        "samurai": samurai,
        "amelie": amelie,
        "series": series,
        "episodes": episodes,
        "orphan_episode": orphan,
        "bogart": bogart,
        "bergman": bergman,
        "curtiz": curtiz,
    }


def make_letterboxd_catalog() -> dict[str, Title]:
    """The IMDb titles the hand-written Letterboxd export (tests/fixtures/letterboxd) should find:
    foreign titles known by akas, remakes, namesakes, a TV movie and an episode to pass over."""
    titles = {
        "amelie": make_title(primary_title="Le fabuleux destin d'Amélie Poulain", start_year=2001, num_votes=800_000),
        "suspiria_1977": make_title(primary_title="Suspiria", start_year=1977, num_votes=100_000),
        "suspiria_2018": make_title(primary_title="Suspiria", start_year=2018, num_votes=80_000),
        "crouching": make_title(primary_title="Wo hu cang long", start_year=2000, num_votes=270_000),
        "weird_al": make_title(primary_title='"Weird Al" Yankovic Live!', title_type="video", start_year=1999),
        "tokyo": make_title(primary_title="Tôkyô monogatari", start_year=1953, num_votes=70_000),
        "fallout": make_title(primary_title="Mission: Impossible - Fallout", start_year=2018, num_votes=400_000),
        "home_a": make_title(primary_title="Home", start_year=2015, num_votes=5_000),
        "home_b": make_title(primary_title="Home", start_year=2015, num_votes=3_000),
        "thing_1982": make_title(primary_title="The Thing", start_year=1982, num_votes=450_000),
        "thing_2011": make_title(primary_title="The Thing", start_year=2011, num_votes=130_000),
        "alien": make_title(primary_title="Alien", start_year=1979, num_votes=900_000),
        "alien_obscure": make_title(primary_title="Alien", start_year=1979, num_votes=12),
        "heat": make_title(primary_title="Heat", start_year=1995, num_votes=700_000),
        "heat_tv": make_title(primary_title="Heat", title_type="tvMovie", start_year=1996, num_votes=900_000),
        "heat_episode": make_title(primary_title="Heat", title_type="tvEpisode", start_year=1995, num_votes=10),
        "monos": make_title(primary_title="Monos", start_year=2018, num_votes=20_000),
        "oldboy": make_title(primary_title="Oldeuboi", start_year=2003, num_votes=600_000),
        "oldboy_2013": make_title(primary_title="Oldboy", start_year=2013, num_votes=90_000),
        "samourai": make_title(primary_title="Le samouraï", start_year=1967, num_votes=50_000),
        "paths": make_title(primary_title="Paths of Glory", start_year=1957, num_votes=200_000),
        "stalker": make_title(primary_title="Stalker", start_year=1979, num_votes=150_000),
        "yi_yi": make_title(primary_title="Yi yi", start_year=2000, num_votes=30_000),
    }
    make_aka(titles["amelie"], "Amelie", region="US")
    make_aka(titles["crouching"], "Crouching Tiger, Hidden Dragon", region="US")
    make_aka(titles["tokyo"], "Tokyo Story", region="GB")
    make_aka(titles["oldboy"], "Oldboy", region="US")
    return titles

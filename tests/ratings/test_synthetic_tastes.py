"""The synthetic crowd's personal tastes: favourite and disliked people, eras, title types, runtime,
the obscure or the popular (ratings/synthetic, real Postgres for the pool and the writes)."""

from collections import Counter
from decimal import Decimal

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from accounts.models import User
from catalog.models import Crew, Principal, Title
from ratings.models import Rating
from ratings.synthetic import GeneratorConfig, Persona, synthetic_users_generate, synthetic_users_remove
from ratings.synthetic.generation import TitlePool, block_generate
from ratings.synthetic.writing import synthetic_title_pool
from tests.ratings.test_synthetic import GENRE_SETS

DIRECTORS = 40


def catalog_make(count: int = 600, *, seed: int = 0) -> list[Title]:
    """Titles across genres, 1920-1999, types and runtimes; each with a director (40 of them, a
    dozen or more titles each), a writer and two leading actors, and a cinematographer who is not
    a taste (not in ``people_roles``)."""
    rng = np.random.default_rng(seed)
    titles = Title.objects.bulk_create(
        Title(
            tconst=f"tt{8_000_000 + i:07d}",
            title_type="tvMovie" if i % 10 == 0 else "movie",
            primary_title=f"Film {i}",
            start_year=1920 + (i * 7) % 80,
            runtime_minutes=int(rng.integers(70, 200)),
            genres=GENRE_SETS[i % len(GENRE_SETS)],
            average_rating=Decimal(str(round(float(rng.uniform(4.0, 9.0)), 1))),
            num_votes=int(rng.lognormal(7, 1.5)) + 100,
        )
        for i in range(count)
    )
    Crew.objects.bulk_create(
        [
            Crew(title=title, person_id=f"nm{1_000 + i % DIRECTORS:07d}", role="director")
            for i, title in enumerate(titles)
        ]
        + [Crew(title=title, person_id=f"nm{2_000 + i % 70:07d}", role="writer") for i, title in enumerate(titles)]
    )
    Principal.objects.bulk_create(
        [
            Principal(
                title=title, ordering=order, person_id=f"nm{3_000 + (i * 3 + order) % 150:07d}", category=category
            )
            for i, title in enumerate(titles)
            for order, category in ((1, "actor"), (2, "actress"), (9, "actor"), (4, "cinematographer"))
        ]
    )
    return titles


def director_of(tconst: str) -> str:
    return f"nm{1_000 + (int(tconst[2:]) - 8_000_000) % DIRECTORS:07d}"


@pytest.mark.django_db
def test_the_pool_reads_people_of_the_taste_roles_only():
    catalog_make(100)
    pool = synthetic_title_pool(config=GeneratorConfig())
    people = set(pool.people.tolist())
    assert {director_of(f"tt{8_000_000 + i:07d}") for i in range(100)} <= people
    # Leading actors (billed 1-3) are people of taste; the 9th-billed and the cinematographer are not.
    assert "nm0003001" in people  # title 0, billed 1
    # Billed 9th: numbers 3000 + a multiple of 3, which no leading actor has.
    assert not {person for person in people if person.startswith("nm00030") and int(person[2:]) % 3 == 0}
    per_title = np.diff(pool.credit_offsets)
    assert per_title.min() == per_title.max() == 4  # director, writer, two leading actors
    assert sorted(set(pool.type_names)) == ["movie", "tvMovie"]
    assert np.isfinite(pool.year).all() and np.isfinite(pool.log_runtime).all()
    assert pool.favourite_cdf.shape == (len(GeneratorConfig().personas), len(pool.people))


@pytest.mark.django_db
def test_a_fan_of_a_director_rates_more_of_their_titles_and_higher():
    catalog_make()
    config = GeneratorConfig(favourite_people=(1, 3), disliked_people=(0, 0))
    pool = synthetic_title_pool(config=config)
    blocks = [block_generate(seed=3, block=b, pool=pool, config=config) for b in range(2)]
    director_index = {str(person): number for number, person in enumerate(pool.people) if director_of_name(person)}
    # Per user and director: a fan (the director is a favourite) or not; their share of the user's
    # titles and the stars the user gave them.
    fan_share, other_share, fan_stars, other_stars = [], [], [], []
    directors = np.array([director_index[director_of(tconst)] for tconst in pool.tconst.tolist()])
    for block in blocks:
        favourites = block.tastes.favourites
        for user in range(favourites.shape[0]):
            mine = block.rating_user == user
            rated_by = directors[block.rating_title[mine]]
            stars = block.rating_stars[mine]
            fans_of = set(favourites[user][favourites[user] >= 0].tolist())
            for director in set(director_index.values()):
                share = float((rated_by == director).mean())
                (fan_share if director in fans_of else other_share).append(share)
                if (rated_by == director).any():
                    (fan_stars if director in fans_of else other_stars).extend(stars[rated_by == director].tolist())
    assert len(fan_share) > 300
    # A director has 1/40 of the titles; a fan gives them several times their share of ratings ...
    assert np.mean(fan_share) > 4 * np.mean(other_share), (np.mean(fan_share), np.mean(other_share))
    # ... and more stars (a favourite person lifts the stars by person_star_shift times the strength).
    assert np.mean(fan_stars) > np.mean(other_stars) + 0.4, (np.mean(fan_stars), np.mean(other_stars))


def director_of_name(nconst: str) -> bool:
    return 1_000 <= int(nconst[2:]) < 1_000 + DIRECTORS


def _pool(count: int = 3000, *, years: np.ndarray | None = None, config: GeneratorConfig) -> TitlePool:
    rng = np.random.default_rng(5)
    rows = [
        (
            f"tt{i:07d}",
            6.5,
            int(rng.lognormal(7, 1.8)) + 100,
            ["Drama"],
            "movie" if i % 2 else "short",
            int(years[i]) if years is not None else 1960,
            [90, 20][i % 2] if i % 3 else None,
        )
        for i in range(count)
    ]
    return TitlePool.build(rows, config)


def test_eras_title_types_and_runtime_shape_what_a_user_watches():
    config = GeneratorConfig(personas=(Persona("casual_viewer", "Casual viewer"),), era_width_years=(5.0, 5.0))
    years = 1920 + (np.arange(3000) * 13) % 80
    pool = _pool(years=years, config=config)
    block = block_generate(seed=1, block=0, pool=pool, config=config, size=600)
    tastes = block.tastes
    # Years away from the user's favourite: far closer than for the same titles given to random users.
    away = np.abs(pool.year[block.rating_title] - tastes.era_year[block.rating_user])
    shuffled = np.abs(
        pool.year[block.rating_title] - np.random.default_rng(0).permutation(tastes.era_year)[block.rating_user]
    )
    assert np.median(away) < 0.5 * np.median(shuffled), (np.median(away), np.median(shuffled))
    # Their favourite type: shorts for some, movies for others, each mostly watching theirs.
    favourite = tastes.title_type[block.rating_user] == pool.title_type[block.rating_title]
    assert favourite.mean() > 0.65
    assert len(set(tastes.title_type.tolist())) == 2
    # Runtime: the favourite length (for titles whose runtime is known) is watched more often.
    known = np.isfinite(pool.log_runtime[block.rating_title]) & np.isfinite(tastes.runtime[block.rating_user])
    same = np.isclose(pool.log_runtime[block.rating_title], tastes.runtime[block.rating_user])[known]
    assert same.mean() > 0.6


def test_a_taste_for_the_obscure_or_the_popular():
    config = GeneratorConfig(personas=(Persona("casual_viewer", "Casual viewer"),), obscurity_shift=0.5)
    pool = _pool(config=config)
    block = block_generate(seed=2, block=0, pool=pool, config=config, size=900)
    votes = np.log(pool.num_votes[block.rating_title])
    by_class = [np.median(votes[block.tastes.exposure[block.rating_user] == c]) for c in range(3)]
    assert by_class[0] < by_class[1] < by_class[2], by_class
    assert Counter(block.tastes.exposure.tolist())[1] > 300  # typical users are half the crowd


def test_disliked_people_are_avoided_and_rated_lower():
    rows = [(f"tt{i:07d}", 7.5, 1000 + i, ["Drama"]) for i in range(400)]
    credits = [(f"tt{i:07d}", f"nm{i % 20:07d}") for i in range(400)]
    config = GeneratorConfig(
        personas=(Persona("casual_viewer", "Casual viewer"),), favourite_people=(0, 0), disliked_people=(1, 1)
    )
    pool = TitlePool.build(rows, config, credits)
    block = block_generate(seed=4, block=0, pool=pool, config=config, size=800)
    disliked = block.tastes.disliked[:, -1]
    person = np.arange(400)[block.rating_title] % 20  # people are sorted nm0000000.. so index = number
    theirs = person == disliked[block.rating_user]
    assert theirs.mean() < 0.4 / 20  # a twentieth of the titles, watched a tenth as often
    assert block.rating_stars[theirs].mean() < block.rating_stars[~theirs].mean() - 0.4


def test_new_settings_are_validated():
    bad = [
        {"favourite_people": [3, 1]},
        {"favourite_people": [0, 1.5]},
        {"disliked_people": [-1, 2]},
        {"favourite_share": 1.5},
        {"era_width_years": [0, 10]},
        {"runtime_width": [2, 1]},
        {"obscurity_shares": [1, 1]},
        {"obscurity_shift": -0.1},
        {"disliked_person_acceptance": 0},
        {"other_type_acceptance": 2},
        {"person_persona_exponent": -1},
        {"favourite_min_titles": 0},
        {"people_roles": [""]},
        {"genre_weights_multiply": "yes"},
    ]
    for data in bad:
        with pytest.raises(ValidationError):
            GeneratorConfig.from_dict(data)
    config = GeneratorConfig.from_dict({"favourite_people": [1, 2], "people_roles": ["director"], "era_floor": 0.5})
    assert config.favourite_people == (1, 2) and config.people_roles == ("director",)
    assert GeneratorConfig.from_dict(config.as_dict()) == config


@pytest.mark.django_db
def test_the_crowd_with_people_is_reproducible_and_idempotent():
    catalog_make(300)

    def snapshot() -> list[tuple]:
        return sorted(
            Rating.objects.filter(user__kind=User.Kind.SYNTHETIC).values_list("user__external_id", "title_id", "score")
        )

    first = synthetic_users_generate(users=1200, seed=31)
    crowd = snapshot()
    assert first.ratings_created == len(crowd) > 10_000
    again = synthetic_users_generate(users=1200, seed=31)
    assert (again.users_created, again.ratings_created) == (0, 0) and snapshot() == crowd
    synthetic_users_remove()
    # Grown in two steps, the same crowd.
    synthetic_users_generate(users=500, seed=31)
    synthetic_users_generate(users=1200, seed=31)
    assert snapshot() == crowd

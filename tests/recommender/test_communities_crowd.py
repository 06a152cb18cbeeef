"""Taste communities on a small synthetic crowd made by the real generator (people, eras and all):
the clusters of the ranking model's user vectors recover the hidden personas, and their names say
what their members share."""

import numpy as np
import pytest

from ratings.synthetic import synthetic_users_generate
from recommender.communities import storing
from recommender.communities.shared import SEPARATOR
from tests.ratings.test_synthetic_tastes import catalog_make
from tests.recommender.recsys_factories import numpy_run_train

# The production ranking model's settings (recommender/spark/params.py), at a smaller rank.
MODEL = {"rank": 24, "reg": 0.1, "alpha": 1.0, "star_weight": 0.0, "activity_exponent": 1.0}


@pytest.mark.django_db
def test_communities_recover_the_personas_of_a_small_crowd():
    catalog_make(600)
    synthetic_users_generate(users=900, seed=42)
    run = numpy_run_train(model=MODEL, iterations=8)
    communities = storing.communities_build(run=run)
    run.refresh_from_db()
    metrics = run.metrics
    assert metrics["community_ari_users"] == 900
    assert metrics["community_ari"] >= 0.6, (metrics["community_k"], metrics["community_persona_table"])
    names = [community.name for community in communities]
    assert len(set(names)) == len(names)
    # Named by genres first; a decade or a director where the members' high ratings lean to one.
    assert all(name.split(SEPARATOR)[0] for name in names)


@pytest.mark.django_db
def test_a_community_leaning_to_a_decade_and_a_director_is_named_by_them():
    from catalog.models import Crew, Person, Title
    from recommender.communities.map import map_label
    from recommender.communities.shared import communities_name_shared
    from recommender.communities.statistics import LikedCounts
    from recommender.models import TasteCommunity

    # Ten 1940s films by one director, ten 1930s films by ten others (one unnamed in the data).
    titles = [f"tt{7_000_000 + i:07d}" for i in range(20)]
    Title.objects.bulk_create(
        Title(tconst=tconst, title_type="movie", primary_title=tconst, start_year=1944 if i < 10 else 1933)
        for i, tconst in enumerate(titles)
    )
    Person.objects.bulk_create(
        [Person(nconst="nm7000000", primary_name="Alfred Hitchcock")]
        + [Person(nconst=f"nm70000{i:02d}", primary_name=f"Director {i}") for i in range(11, 20)]
    )
    Crew.objects.bulk_create(
        Crew(title_id=tconst, person_id="nm7000000" if i < 10 else f"nm70000{i:02d}", role="director")
        for i, tconst in enumerate(titles)
    )
    # Community 0's high ratings: mostly the 1940s films; community 1's: spread over the 1930s ones.
    per_title = np.zeros((2, 20), dtype=np.int64)
    per_title[0, :10] = 8
    per_title[0, 10:] = 1
    per_title[1, 10:] = 12
    communities = [TasteCommunity(number=1, name="Thriller & Mystery"), TasteCommunity(number=2, name="Drama")]
    communities_name_shared(communities, LikedCounts(per_title, np.array(titles)))
    assert communities[0].name == f"Thriller & Mystery{SEPARATOR}1940s{SEPARATOR}Alfred Hitchcock"
    assert map_label(communities[0]) == "Thriller & Mystery"  # the map keeps its labels short
    # Every 1930s director has a tenth of community 2's high ratings: the decade names it, not one
    # of them (director 10 has no name in the imported data and never names a community).
    assert communities[1].name.startswith(f"Drama{SEPARATOR}1930s")
    assert "nm70000" not in communities[1].name

"""Taste communities on a small synthetic crowd made by the real generator (people, eras and all):
the clusters of the ranking model's user vectors recover the hidden personas, and their names say
what their members share."""

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

"""What a community's members share beyond genres: the decade and the director their high ratings
lean to, added to the community's name ("Crime & Film-Noir · 1940s · Alfred Hitchcock").

Reads the titles' years and directors; writes nothing (the caller saves the names).
"""

from __future__ import annotations

import numpy as np

from catalog.models import Crew, Person, Title
from recommender.communities.statistics import LikedCounts
from recommender.models import TasteCommunity

# A decade names a community when at least this share of its members' high ratings fall in it, at
# this lift over everyone's; a director when this share of them are the director's films, at this lift.
MIN_DECADE_SHARE, MIN_DECADE_LIFT = 0.3, 1.25
MIN_PERSON_SHARE, MIN_PERSON_LIFT = 0.02, 2.0
SEPARATOR = " · "


def _leaning(matrix: np.ndarray, counted: LikedCounts, min_share: float, min_lift: float) -> dict[int, int]:
    """Per community, the column (decade, person) of ``matrix`` (titles x columns) its high ratings
    lean to most, if it passes both thresholds."""
    counts = counted.per_title @ matrix  # communities x columns
    overall = counts.sum(axis=0)
    total = max(int(overall.sum()), 1)
    result = {}
    for label in range(counts.shape[0]):
        mine = max(int(counts[label].sum()), 1)
        share = counts[label] / mine
        lift = np.divide(share, overall / total, out=np.zeros_like(share), where=overall > 0)
        passing = np.flatnonzero((share >= min_share) & (lift >= min_lift))
        if passing.size:
            result[label] = int(passing[np.argmax(share[passing] * np.log(lift[passing]))])
    return result


def communities_name_shared(communities: list[TasteCommunity], counted: LikedCounts) -> None:
    """Append the decade and the director a community's members share to its ``name``."""
    titles = counted.titles.tolist()
    if not titles or not communities:
        return
    position = {tconst: number for number, tconst in enumerate(titles)}
    years = dict(Title.objects.filter(tconst__in=titles).values_list("tconst", "start_year"))
    decades = sorted({year // 10 * 10 for year in years.values() if year})
    decade_matrix = np.zeros((len(titles), len(decades)), dtype=np.int64)
    for tconst, year in years.items():
        if year:
            decade_matrix[position[tconst], decades.index(year // 10 * 10)] = 1
    directed = list(
        Crew.objects.filter(title_id__in=titles, role=Crew.Role.DIRECTOR).values_list("title_id", "person_id")
    )
    names = dict(
        Person.objects.filter(nconst__in={person for _, person in directed})
        .exclude(primary_name="")
        .values_list("nconst", "primary_name")
    )
    people = sorted(names)  # only people whose name is in the imported data can name a community
    column = {person: number for number, person in enumerate(people)}
    person_matrix = np.zeros((len(titles), len(people)), dtype=np.int64)
    for tconst, person in directed:
        if person in column:
            person_matrix[position[tconst], column[person]] = 1
    decade_of = _leaning(decade_matrix, counted, MIN_DECADE_SHARE, MIN_DECADE_LIFT) if decades else {}
    person_of = _leaning(person_matrix, counted, MIN_PERSON_SHARE, MIN_PERSON_LIFT) if people else {}
    for label, community in enumerate(communities):
        parts = [community.name]
        if label in decade_of:
            parts.append(f"{decades[decade_of[label]]}s")
        if label in person_of:
            parts.append(names[people[person_of[label]]])
        community.name = SEPARATOR.join(parts)[:200]

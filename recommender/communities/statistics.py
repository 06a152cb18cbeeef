"""What describes a community: its members' high ratings counted per title, the genres and
titles that set it apart, its name, and how well communities recover synthetic users' personas.

Reads the ratings, the titles' genres and the users' personas; writes nothing.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from django.db import connection

from catalog.models import Title
from recommender.models import TasteCommunity

HIGH_SCORE = 4
MIN_GENRE_SHARE = 0.04
TOP_TITLES = 20
# No share without enough members behind it (issue 17): a title's share of a community ("loved by
# 40% here") needs at least SHARE_MIN_MEMBERS of its members rating it 4-5 stars, and a genre's
# share of its high ratings at least GENRE_MIN_RATINGS of them; below that a percentage is noise
# (one member of a community of three is "33%"). Every share is stored with its counts.
SHARE_MIN_MEMBERS = 5
GENRE_MIN_RATINGS = 10
# "Discover: loved next door" names a neighbouring community's title only when that community
# really favours it over the member's own: at least FAVOUR_RATIO times the share, and the difference
# significant (one-sided two-proportion z-test, z >= FAVOUR_Z, about 97.5 %).
FAVOUR_RATIO = 1.5
FAVOUR_Z = 1.96


@dataclass
class Liked:
    """High ratings (``HIGH_SCORE`` stars or more): who liked which title, as parallel arrays."""

    users: np.ndarray  # int64 user ids
    tconsts: np.ndarray  # title ids (str)


def liked_from_database(user_ids: list) -> Liked:
    """``Liked`` of ``user_ids`` read from the ratings (when the training's export is not at hand)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT user_id, title_id FROM ratings_rating WHERE score >= %s AND user_id = ANY(%s)",
            [HIGH_SCORE, list(map(int, user_ids))],
        )
        rows = cursor.fetchall()
    return Liked(np.array([row[0] for row in rows], dtype=np.int64), np.array([row[1] for row in rows], dtype=object))


@dataclass
class LikedCounts:
    """Members' high ratings counted per community and title (both statistics read these)."""

    per_title: np.ndarray  # (k, titles): high ratings of each title by each community's members
    titles: np.ndarray  # the titles' ids, sorted


def liked_count(liked: Liked, user_ids: list, labels: np.ndarray, k: int) -> LikedCounts:
    """``LikedCounts`` of the clustered users (high ratings of anybody else are left out)."""
    order = np.argsort(np.asarray(user_ids, dtype=np.int64), kind="stable")
    sorted_users = np.asarray(user_ids, dtype=np.int64)[order]
    position = np.minimum(np.searchsorted(sorted_users, liked.users), max(len(sorted_users) - 1, 0))
    member = sorted_users[position] == liked.users if len(sorted_users) else np.zeros(len(liked.users), bool)
    titles, title_index = np.unique(np.asarray(liked.tconsts, dtype=str)[member], return_inverse=True)
    per_title = np.zeros((k, len(titles)), dtype=np.int64)
    np.add.at(per_title, (np.asarray(labels)[order[position[member]]], title_index.reshape(-1)), 1)
    return LikedCounts(per_title, titles)


def genre_lifts(*, counted: LikedCounts, k: int) -> dict[int, list[dict]]:
    """Per community, genres by lift of their share among members' high ratings over everyone's."""
    titles = counted.titles
    genres_of = dict(Title.objects.filter(tconst__in=titles.tolist()).values_list("tconst", "genres"))
    names = sorted({genre for genres in genres_of.values() for genre in genres or ()})
    matrix = np.zeros((len(titles), len(names)), dtype=np.int64)  # title x genre, 1 if the title has it
    column = {name: number for number, name in enumerate(names)}
    for row, tconst in enumerate(titles.tolist()):
        for genre in genres_of.get(tconst) or ():
            matrix[row, column[genre]] = 1
    counts = counted.per_title @ matrix  # label x genre: members' high ratings of titles of that genre
    overall = counts.sum(axis=0)
    total = int(overall.sum()) or 1
    result = {}
    for label in range(k):
        mine = int(counts[label].sum()) or 1
        entries: list[dict] = []
        for number in np.flatnonzero(counts[label] >= GENRE_MIN_RATINGS):
            share = counts[label, number] / mine
            base = overall[number] / total
            entries.append(
                {
                    "genre": names[number],
                    "share": round(float(share), 4),
                    "overall_share": round(float(base), 4),
                    "lift": round(float(share / base), 3) if base else 0.0,
                    # The counts behind the share and the lift: high ratings of the genre / all.
                    "count": int(counts[label, number]),
                    "total": int(mine),
                    "overall_count": int(overall[number]),
                    "overall_total": int(total),
                }
            )
        entries.sort(key=lambda entry: (-(entry["share"] >= MIN_GENRE_SHARE), -entry["lift"], entry["genre"]))
        result[label] = entries
    return result


def distinctive_titles(*, counted: LikedCounts, user_ids: list, labels: np.ndarray, k: int) -> dict[int, list[dict]]:
    """Per community, the titles its members rate 4-5 stars far more often than everyone does.

    ``share`` is the fraction of members who rated the title 4 or 5, ``overall_share`` the fraction
    of all clustered users; titles are ranked by the difference (a title everyone loves is not
    distinctive, one nobody in the community knows is not its taste); titles liked by fewer than
    ``SHARE_MIN_MEMBERS`` members are left out. Each entry keeps its counts (``count`` of
    ``members``, ``overall_count`` of ``overall_members``) and every community's count
    (``by_community``, community n at n - 1), so a page can compare two communities.
    """
    sizes = np.maximum(np.bincount(np.asarray(labels, dtype=np.int64), minlength=k), 1)
    total = max(1, len(user_ids))
    per_title, titles = counted.per_title, counted.titles
    overall = per_title.sum(axis=0)
    result: dict[int, list[dict]] = {label: [] for label in range(k)}
    for label in range(k):
        candidates = np.flatnonzero(per_title[label] >= SHARE_MIN_MEMBERS)
        gap = per_title[label, candidates] / sizes[label] - overall[candidates] / total
        ranked = candidates[np.lexsort((titles[candidates], -gap))][:TOP_TITLES]
        for number in ranked:
            share = float(per_title[label, number] / sizes[label])
            overall_share = float(overall[number] / total)
            if share <= overall_share:
                continue
            result[label].append(
                {
                    "tconst": str(titles[number]),
                    "share": round(share, 4),
                    "overall_share": round(overall_share, 4),
                    "lift": round(share / overall_share, 3) if overall_share else None,
                    "count": int(per_title[label, number]),
                    "members": int(sizes[label]),
                    "overall_count": int(overall[number]),
                    "overall_members": int(total),
                    "by_community": [int(value) for value in per_title[:, number]],
                }
            )
    return result


def favoured_over(entry: dict, *, community_number: int, community_size: int) -> dict | None:
    """Whether the community whose ``top_titles`` holds ``entry`` really favours the title over
    community ``community_number`` (of ``community_size`` members): enough of its own members
    (``SHARE_MIN_MEMBERS``), ``FAVOUR_RATIO`` times the other's share, and a significant difference
    (one-sided two-proportion z-test, ``FAVOUR_Z``). Returns the comparison's counts, or None (also
    for entries stored before the counts were: nothing is claimed without them)."""
    by_community = entry.get("by_community")
    count, members = entry.get("count"), entry.get("members")
    if not by_community or count is None or not members or not 0 < community_number <= len(by_community):
        return None
    other = int(by_community[community_number - 1])
    other_members = max(int(community_size), 1)
    if count < SHARE_MIN_MEMBERS:
        return None
    share, other_share = count / members, other / other_members
    if share < FAVOUR_RATIO * other_share:
        return None
    pooled = (count + other) / (members + other_members)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / members + 1 / other_members)) if 0 < pooled < 1 else 0.0
    if spread == 0.0 or (share - other_share) / spread < FAVOUR_Z:
        return None
    return {
        "count": count,
        "members": members,
        "share": share,
        "other_count": other,
        "other_members": other_members,
        "other_share": other_share,
    }


def communities_name(communities: list[TasteCommunity]) -> None:
    """ "Sci-Fi & Horror": the first pair of its most over-represented genres no larger community took."""
    used: set[str] = set()
    for community in communities:
        genres = [
            entry["genre"]
            for entry in community.defining_genres
            if entry["share"] >= MIN_GENRE_SHARE and entry["lift"] > 1
        ]
        candidates = [" & ".join(pair) for pair in itertools.combinations(genres[:5], 2)] + genres[:5]
        name = next((candidate for candidate in candidates if candidate not in used), None)
        if name is None:
            name = "Broad tastes"
            while name in used:
                name = f"Broad tastes {community.number}"
        used.add(name)
        community.name = name


def persona_agreement(user_ids: list, labels: np.ndarray) -> dict:
    """Adjusted Rand index of communities against synthetic users' hidden personas."""
    from accounts.models import User

    with connection.cursor() as cursor:  # one array parameter: pk__in with 20,000 ids takes 0.2 s to compile
        cursor.execute(
            f"SELECT id, persona FROM {User._meta.db_table} "  # noqa: S608
            "WHERE id = ANY(%s) AND kind = %s AND persona <> ''",
            [list(map(int, user_ids)), User.Kind.SYNTHETIC],
        )
        personas = dict(cursor.fetchall())
    if len(personas) < 2:
        return {"community_ari": None, "community_ari_users": len(personas)}
    positions = [n for n, user_id in enumerate(user_ids) if user_id in personas]
    truth = [personas[user_ids[n]] for n in positions]
    predicted = labels[positions]
    # How each persona spread over communities, for the staff page.
    table: dict[str, dict[str, int]] = {}
    for persona, label in zip(truth, predicted, strict=True):
        row = table.setdefault(persona, {})
        row[str(int(label) + 1)] = row.get(str(int(label) + 1), 0) + 1
    return {
        "community_ari": round(float(_adjusted_rand_score(truth, predicted)), 4),
        "community_ari_users": len(positions),
        "community_persona_table": table,
    }


def _adjusted_rand_score(truth, predicted) -> float:
    from sklearn.metrics import adjusted_rand_score  # not at start-up (see clustering.py)

    return adjusted_rand_score(truth, predicted)

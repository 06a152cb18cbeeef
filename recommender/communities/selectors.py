"""Reading a run's taste communities for the pages: the list, a user's place on the map, the
neighbouring communities and their titles, the map's points and the run's community metrics.

Nothing here writes to the database (the recovered metrics and map points are cached).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db import connection

from catalog.models import Title
from recommender.communities.clustering import normalise
from recommender.communities.statistics import SHARE_MIN_MEMBERS, favoured_over, persona_agreement
from recommender.models import ModelRun, TasteCommunity, UserFactor


def community_metrics(*, run: ModelRun | None) -> dict:
    """The run's community metrics (k, ARI, persona table, projection), from ``run.metrics``; when a
    run's metrics lack them (written over after ``communities_build``), recomputed from the stored
    assignment and map positions, and cached: the ARI from ``UserFactor.community`` and the
    personas, the projection by least squares from the users' unit vectors to their stored (x, y)
    (exact: the map is a linear function of them)."""
    if run is None:
        return {}
    metrics = run.metrics or {}
    if metrics.get("community_projection") and "community_ari" in metrics:
        return metrics
    key = f"recommender:community-metrics:v1:{run.pk}:{run.created_at.timestamp() if run.created_at else 0}"
    cached = cache.get(key)
    if cached is not None:
        return {**metrics, **cached}
    rows = list(
        UserFactor.objects.filter(run=run, community__isnull=False, x__isnull=False)
        .order_by("user_id")
        .values_list("user_id", "community__number", "factors", "x", "y")
    )
    if not rows:
        cache.set(key, {}, 600)
        return metrics
    user_ids = [row[0] for row in rows]
    labels = np.array([row[1] - 1 for row in rows])
    recovered = {"community_k": int(TasteCommunity.objects.filter(run=run).count()), "community_k_chosen_by": "–"}
    recovered.update(persona_agreement(user_ids, labels))
    sample = rows[:: max(1, len(rows) // 3000)]
    unit = normalise(np.array([row[2] for row in sample], dtype=np.float64))
    design = np.hstack([unit, np.ones((len(sample), 1))])
    solution, *_ = np.linalg.lstsq(design, np.array([[row[3], row[4]] for row in sample]), rcond=None)
    components = solution[:-1].T  # (2, rank)
    # (unit - mean) @ componentsᵀ = unit @ componentsᵀ + offset: any mean with mean @ componentsᵀ = -offset.
    mean, *_ = np.linalg.lstsq(components, -solution[-1], rcond=None)
    recovered["community_projection"] = {
        "mean": [float(value) for value in mean],
        "components": [[float(value) for value in row] for row in components],
        "recovered": True,
    }
    cache.set(key, recovered, 24 * 3600)
    return {**metrics, **recovered}


def community_list(*, run: ModelRun | None) -> list[TasteCommunity]:
    """The run's communities by number; remembered on the run object for the rest of the request."""
    if run is None:
        return []
    cached = getattr(run, "_communities", None)
    if cached is None:
        cached = run._communities = list(  # type: ignore[attr-defined]  # per-request memo on the instance
            TasteCommunity.objects.filter(run=run).order_by("number")
        )
    return cached


@dataclass
class UserPlace:
    community: TasteCommunity | None
    x: float | None
    y: float | None
    source: str  # "run" (clustered with everyone) or "fold-in" (placed by the nearest centroid)


def user_place(*, user, run: ModelRun | None, vectors: np.ndarray | None = None) -> UserPlace | None:
    """The user's community and map position in ``run``.

    A fold-in for this run is the user's current vector (ratings changed since the training), so it
    wins; it is placed with the run's k-means centres and PCA. Otherwise the run's own assignment.
    ``vectors``: the user's current ranking vector when the caller has it (saves the query).
    """
    from recommender.models import UserFoldIn

    if run is None or not community_list(run=run):
        return None
    if vectors is None:
        fold_in = UserFoldIn.objects.filter(user=user, run=run, factors__isnull=False).values_list("factors", flat=True)
        vectors = np.asarray(fold_in[0], dtype=np.float64) if fold_in else None
    if vectors is not None:
        placed = place_vector(run=run, factors=np.asarray(vectors, dtype=np.float64))
        if placed is not None:
            return placed
    row = UserFactor.objects.filter(run=run, user=user).select_related("community").first()
    if row is not None and row.community_id is not None:
        return UserPlace(community=row.community, x=row.x, y=row.y, source="run")
    return None


def place_vector(*, run: ModelRun, factors: np.ndarray) -> UserPlace | None:
    """The community k-means would assign to a user vector (nearest centre), and its map position."""
    projection = community_metrics(run=run).get("community_projection")
    communities = community_list(run=run)
    if not projection or not communities or not np.any(factors):
        return None
    unit = factors / np.linalg.norm(factors)
    centres = np.array([community.centroid for community in communities], dtype=np.float64)
    if centres.ndim != 2 or centres.shape[1] != unit.shape[0]:
        return None
    nearest = communities[int(np.argmin(((centres - unit) ** 2).sum(axis=1)))]
    components = np.asarray(projection["components"], dtype=np.float64)
    point = (unit - np.asarray(projection["mean"], dtype=np.float64)) @ components.T
    point = np.concatenate([point, np.zeros(2 - len(point))]) if len(point) < 2 else point
    return UserPlace(community=nearest, x=float(point[0]), y=float(point[1]), source="fold-in")


def community_neighbours(*, community: TasteCommunity, count: int = 2) -> list[TasteCommunity]:
    """The communities whose centres are closest to ``community``'s."""
    others = [other for other in community_list(run=community.run) if other.pk != community.pk]
    if not others or not community.centroid:
        return []
    centre = np.asarray(community.centroid)
    others.sort(
        key=lambda other: float(((centre - np.asarray(other.centroid)) ** 2).sum()) if other.centroid else math.inf
    )
    return others[:count]


def community_titles(
    *,
    community: TasteCommunity,
    limit: int = 12,
    exclude: set[str] | None = None,
    versus: TasteCommunity | None = None,
) -> list[Title]:
    """The community's distinctive titles as ``Title`` objects (with ``lift`` set), best first.

    With ``versus`` (the member's own community), only the titles ``community`` really favours
    over it (``statistics.favoured_over``), each with both communities' counts. A share is set on a
    title only with the counts behind it (``SHARE_MIN_MEMBERS`` or more members)."""
    entries = [entry for entry in community.top_titles if not exclude or entry["tconst"] not in exclude]
    comparisons: dict[str, dict] = {}
    if versus is not None:
        for entry in entries:
            compared = favoured_over(entry, community_number=versus.number, community_size=versus.size)
            if compared is not None:
                comparisons[entry["tconst"]] = compared
        entries = [entry for entry in entries if entry["tconst"] in comparisons]
    titles = Title.objects.in_bulk([entry["tconst"] for entry in entries])
    result = []
    for entry in entries:
        title = titles.get(entry["tconst"])
        if title is None or title.removed_at is not None:
            continue
        # Shown by the template next to the title, with the counts behind them.
        counted = (entry.get("count") or 0) >= SHARE_MIN_MEMBERS
        title.community_lift = entry.get("lift") if counted else None  # type: ignore[attr-defined]
        title.community_share = entry.get("share") if counted else None  # type: ignore[attr-defined]
        title.community_overall_share = entry.get("overall_share") if counted else None  # type: ignore[attr-defined]
        title.community_count = entry.get("count") if counted else None  # type: ignore[attr-defined]
        title.community_members = entry.get("members")  # type: ignore[attr-defined]
        title.community_overall_count = entry.get("overall_count")  # type: ignore[attr-defined]
        title.community_overall_members = entry.get("overall_members")  # type: ignore[attr-defined]
        title.community_versus = comparisons.get(entry["tconst"])  # type: ignore[attr-defined]
        result.append(title)
        if len(result) >= limit:
            break
    return result


def community_overview(*, run: ModelRun | None, titles_per_community: int = 4) -> list[dict]:
    """The public overview of the run's communities, for visitors: each community's name, size,
    the genres it rates above the rest and a few titles it likes most. Aggregates only: no member,
    no map of members. ``[{"community", "genres", "titles"}]``, the titles in one query."""
    communities = community_list(run=run)
    wanted = [
        entry["tconst"] for community in communities for entry in community.top_titles[: titles_per_community * 2]
    ]
    titles = Title.objects.filter(removed_at__isnull=True, is_adult=False).in_bulk(wanted)
    overview = []
    for community in communities:
        shown = [titles[entry["tconst"]] for entry in community.top_titles if entry["tconst"] in titles]
        overview.append(
            {
                "community": community,
                "genres": [entry["genre"] for entry in community.defining_genres[:3]],
                "titles": shown[:titles_per_community],
            }
        )
    return overview


def community_map_points(*, run: ModelRun, limit: int = 1500) -> list[tuple[float, float, int]]:
    """A deterministic sample of users' (x, y, community number) for the map picture (cached per run:
    a run's map never changes, and the sample sorts every user of the run)."""
    # communities_build deletes this key (limit 1500) when it rebuilds the run's communities.
    key = f"recommender:map-points:v1:{run.pk}:{run.created_at.timestamp() if run.created_at else 0}:{limit}"
    points = cache.get(key)
    if points is None:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT f.x, f.y, c.number FROM recommender_userfactor f
                JOIN recommender_tastecommunity c ON c.id = f.community_id
                WHERE f.run_id = %s AND f.x IS NOT NULL
                ORDER BY md5(f.user_id::text) LIMIT %s
                """,
                [run.pk, limit],
            )
            points = cursor.fetchall()
        if points:
            cache.set(key, points, 24 * 3600)
    return points

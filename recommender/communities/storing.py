"""Storing a run's taste communities: the ``TasteCommunity`` rows, the run's community metrics and
the users' and titles' places on the map (``communities_build``, ``communities_create``).

The numbers come from ``clustering`` and ``statistics``; this module is the one that writes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db import connection, transaction

from recommender.communities.clustering import Clustering, communities_cluster
from recommender.communities.shared import communities_name_shared
from recommender.communities.statistics import (
    Liked,
    communities_name,
    distinctive_titles,
    genre_lifts,
    liked_count,
    liked_from_database,
    persona_agreement,
)
from recommender.models import ModelRun, TasteCommunity

logger = logging.getLogger(__name__)


def _load_vectors(table: str, key: str, run_id: int) -> tuple[list, np.ndarray]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {key}, factors::text FROM {table} WHERE run_id = %s ORDER BY {key}", [run_id])
        rows = cursor.fetchall()
    if not rows:
        return [], np.zeros((0, 0))
    width = rows[0][1].count(",") + 1
    values = np.array(",".join(row[1][1:-1] for row in rows).split(","), dtype=np.float64).reshape(len(rows), width)
    return [row[0] for row in rows], values


@dataclass
class Placement:
    """Where a run's users and titles go: each user's community (its row's id) and both on the map.
    The training writes these with the vectors (``UserFactor``/``TitleFactor`` rows); otherwise
    ``communities_build`` stores them on the rows already there."""

    user_ids: list
    community_ids: list[int]
    user_xy: np.ndarray
    title_ids: list
    title_xy: np.ndarray


@transaction.atomic
def communities_build(
    *, run: ModelRun, clustering: Clustering | None = None, liked: Liked | None = None
) -> list[TasteCommunity]:
    """Cluster ``run``'s users into taste communities and store them, the map and the ARI.

    ``clustering`` is the result of ``communities_cluster`` on this run's vectors when the caller
    already has it; without it the vectors are read from the run's rows.
    Idempotent: the run's previous communities are replaced. Returns the communities, largest first.
    """
    if clustering is None:
        user_ids, user_vectors = _load_vectors("recommender_userfactor", "user_id", run.pk)
        title_ids, title_vectors = _load_vectors("recommender_titlefactor", "title_id", run.pk)
        clustering = communities_cluster(user_ids, user_vectors, title_ids, title_vectors) if user_ids else None
    communities, placement = communities_create(run=run, clustering=clustering, liked=liked)
    if placement is not None:
        _store_users(run.pk, placement.user_ids, placement.community_ids, placement.user_xy)
        _store_titles(run.pk, placement.title_ids, placement.title_xy)
    return communities


@transaction.atomic
def communities_create(
    *, run: ModelRun, clustering: Clustering | None, liked: Liked | None = None
) -> tuple[list[TasteCommunity], Placement | None]:
    """The communities of ``clustering`` (``communities_cluster`` of ``run``'s vectors) as rows, named
    and described, and the run's community metrics (k, silhouettes, projection, ARI); returns them
    and the ``Placement`` of users and titles, which the caller writes on their vector rows.
    Idempotent: the run's previous communities are replaced (their members' links cleared)."""
    TasteCommunity.objects.filter(run=run).delete()
    run.__dict__.pop("_communities", None)  # community_list's memo of the old ones
    stamp = run.created_at.timestamp() if run.created_at else 0
    cache.delete_many(
        [f"recommender:map-points:v1:{run.pk}:{stamp}:1500", f"recommender:community-metrics:v1:{run.pk}:{stamp}"]
    )
    if clustering is None or not clustering.user_ids:
        return [], None
    user_ids, labels, k, centers = clustering.user_ids, clustering.labels, clustering.k, clustering.centers
    user_xy, title_ids, title_xy, pca = clustering.user_xy, clustering.title_ids, clustering.title_xy, clustering.pca
    silhouettes = clustering.silhouettes
    assert pca is not None, "a clustering with users has its projection"

    counted = liked_count(liked if liked is not None else liked_from_database(user_ids), user_ids, labels, k)
    genre_stats = genre_lifts(counted=counted, k=k)
    title_stats = distinctive_titles(counted=counted, user_ids=user_ids, labels=labels, k=k)
    communities = []
    for number in range(k):
        members = labels == number
        top_titles = title_stats.get(number, [])
        defining = genre_stats.get(number, [])
        centre_xy = user_xy[members].mean(axis=0)
        communities.append(
            TasteCommunity(
                run=run,
                number=number + 1,
                name="",
                size=int(members.sum()),
                defining_genres=defining,
                top_titles=top_titles,
                centroid=[float(value) for value in centers[number]],
                x=float(centre_xy[0]),
                y=float(centre_xy[1]),
            )
        )
    communities_name(communities)
    communities_name_shared(communities, counted)
    TasteCommunity.objects.bulk_create(communities)
    pks = np.array([community.pk for community in communities], dtype=np.int64)  # community n+1 is pks[n]

    metrics = dict(run.metrics or {})
    metrics.update(
        {
            "community_k": k,
            "community_k_chosen_by": "configured" if not silhouettes else "silhouette",
            "community_silhouettes": silhouettes,
            "community_projection": {
                "mean": [float(value) for value in pca.mean_],
                "components": [[float(value) for value in row] for row in pca.components_],
                "explained_variance_ratio": [float(value) for value in pca.explained_variance_ratio_],
            },
        }
    )
    metrics.update(persona_agreement(user_ids, labels))
    run.metrics = metrics
    run.save(update_fields=["metrics"])
    logger.info("Run %s: %d communities, ARI %s", run.pk, k, metrics.get("community_ari"))
    return communities, Placement(
        list(user_ids), pks[np.asarray(labels, dtype=np.int64)].tolist(), user_xy, list(title_ids), title_xy
    )


def _store_users(run_id: int, user_ids: list, community_ids: list[int], xy: np.ndarray) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE recommender_userfactor f SET community_id = v.community_id, x = v.x, y = v.y
            FROM unnest(%s::bigint[], %s::bigint[], %s::float8[], %s::float8[]) AS v(user_id, community_id, x, y)
            WHERE f.run_id = %s AND f.user_id = v.user_id
            """,
            [list(map(int, user_ids)), community_ids, xy[:, 0].tolist(), xy[:, 1].tolist(), run_id],
        )


def _store_titles(run_id: int, title_ids: list, xy: np.ndarray) -> None:
    if not title_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE recommender_titlefactor f SET x = v.x, y = v.y
            FROM unnest(%s::text[], %s::float8[], %s::float8[]) AS v(title_id, x, y)
            WHERE f.run_id = %s AND f.title_id = v.title_id
            """,
            [list(title_ids), xy[:, 0].tolist(), xy[:, 1].tolist(), run_id],
        )

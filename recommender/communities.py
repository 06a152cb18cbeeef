"""Taste communities: users who rate alike, found by clustering a run's user vectors.

``communities_build(run=...)`` runs after each training, before the run becomes active:

1. The ranking model's user vectors are L2-normalised (two users with the same taste but different
   activity point the same way) and clustered with k-means. ``k`` is
   ``RECOMMENDER_COMMUNITIES_K`` when set, else the k in ``RECOMMENDER_COMMUNITIES_K_RANGE``
   (default 3..10, and at most one community per ``MIN_AVERAGE_SIZE`` users) with the best
   silhouette score on a sample of users; every candidate's silhouette is recorded in
   ``run.metrics["community_silhouettes"]``.
2. Each community is named by its most distinctive genres: the genres of the titles its members
   rated 4 or 5 stars, by lift (share among the community's high ratings / share among everyone's),
   and described by its most distinctive titles (the centroid's predicted preference minus the
   average user's).
3. A 2-D map: PCA of the normalised user vectors; titles are projected with the same components
   (users and titles share the latent space), stored in ``UserFactor.x/y``, ``TitleFactor.x/y`` and
   ``TasteCommunity.x/y``. The projection is kept in ``run.metrics["community_projection"]`` so a
   user folded in later is placed on the same map and given the nearest community.
4. On synthetic users, the adjusted Rand index between communities and the generator's hidden
   personas measures how well the model recovers them: ``run.metrics["community_ari"]``.

The page selectors at the end read what was built.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, pairwise_distances, silhouette_score

from catalog.models import Title
from recommender.models import ModelRun, TasteCommunity, UserFactor

logger = logging.getLogger(__name__)

SILHOUETTE_SAMPLE = 2000  # users scored for the choice of k (the silhouette is quadratic in them)
# A community should be a crowd: k is capped so that the average community has this many members.
MIN_AVERAGE_SIZE = 10
HIGH_SCORE = 4
MIN_GENRE_SHARE = 0.04
TOP_TITLES = 20
SEED = 42


def _k_range() -> range:
    low, high = getattr(settings, "RECOMMENDER_COMMUNITIES_K_RANGE", (3, 10))
    return range(int(low), int(high) + 1)


def _normalise(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def _load_vectors(table: str, key: str, run_id: int) -> tuple[list, np.ndarray]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {key}, factors::text FROM {table} WHERE run_id = %s ORDER BY {key}", [run_id])
        rows = cursor.fetchall()
    if not rows:
        return [], np.zeros((0, 0))
    width = rows[0][1].count(",") + 1
    values = np.array(",".join(row[1][1:-1] for row in rows).split(","), dtype=np.float64).reshape(len(rows), width)
    return [row[0] for row in rows], values


def choose_k(
    vectors: np.ndarray, *, k_range: range | None = None, seed: int = SEED
) -> tuple[int, list[dict], np.ndarray | None]:
    """The k with the best silhouette (cosine on normalised vectors), every candidate's score, and
    the centres k-means found for it on the sample (None when k was not chosen that way)."""
    configured = getattr(settings, "RECOMMENDER_COMMUNITIES_K", None)
    n = len(vectors)
    if configured:
        return min(int(configured), max(1, n)), [], None
    candidates = [k for k in (k_range or _k_range()) if 2 <= k < n and k <= max(2, n // MIN_AVERAGE_SIZE)]
    if not candidates:
        return max(1, min(2, n)), [], None
    rng = np.random.default_rng(seed)
    sample = vectors if n <= SILHOUETTE_SAMPLE else vectors[rng.choice(n, SILHOUETTE_SAMPLE, replace=False)]
    distances = pairwise_distances(sample)  # once, not once per candidate k
    scores: list[dict] = []
    centres: dict[int, np.ndarray] = {}
    for k in candidates:
        kmeans = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(sample)
        if len(set(kmeans.labels_)) < 2:
            continue
        silhouette = silhouette_score(distances, kmeans.labels_, metric="precomputed")
        scores.append({"k": k, "silhouette": round(float(silhouette), 4)})
        centres[k] = kmeans.cluster_centers_
    if not scores:
        return candidates[0], [], None
    best = max(scores, key=lambda entry: entry["silhouette"])
    return best["k"], scores, centres[best["k"]]


@dataclass
class Clustering:
    """What the numbers alone give (no database): communities, the map, the projection."""

    user_ids: list
    labels: np.ndarray  # community index per user, 0 = the largest
    centers: np.ndarray  # raw k-means centres, in community order
    silhouettes: list[dict]
    user_xy: np.ndarray
    title_ids: list
    title_xy: np.ndarray
    pca: PCA | None

    @property
    def k(self) -> int:
        return len(self.centers)

    def titles_project(self, title_ids: list, title_vectors: np.ndarray) -> None:
        """Place titles on the users' map (they share the latent space)."""
        self.title_ids = list(title_ids)
        vectors = np.asarray(title_vectors, dtype=np.float64)
        self.title_xy = (
            _pad_xy(self.pca.transform(_normalise(vectors))) if len(self.title_ids) and self.pca else np.zeros((0, 2))
        )


def communities_cluster(
    user_ids: list, user_vectors: np.ndarray, title_ids: list | None = None, title_vectors: np.ndarray | None = None
) -> Clustering:
    """Cluster users' (ranking model) vectors and project users (and titles, when given) on the
    2-D map.

    Pure numpy and scikit-learn: the training runs it on the job's users file in a thread, as
    soon as the job has written it, then adds the titles and hands it to ``communities_build``.
    """
    if len(user_ids) == 0:
        return Clustering(
            [], np.zeros(0, dtype=np.int64), np.zeros((0, 0)), [], np.zeros((0, 2)), [], np.zeros((0, 2)), None
        )
    normalised = _normalise(np.asarray(user_vectors, dtype=np.float64))
    k, silhouettes, sample_centres = choose_k(normalised)
    if sample_centres is not None and len(normalised) > SILHOUETTE_SAMPLE:
        # Refined on everyone from the sample's best of 4 starts: on the benchmark's 20,000 users
        # as tight as 8 fresh starts on everyone (inertia 14,021 against 14,025) in 0.05 s, not 0.7 s.
        kmeans = KMeans(n_clusters=k, init=sample_centres, n_init=1, random_state=SEED).fit(normalised)
    else:
        kmeans = KMeans(n_clusters=k, n_init=8, random_state=SEED).fit(normalised)
    labels = kmeans.labels_
    # Communities numbered by size, largest first, so "community 1" is the biggest.
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    renumber = np.empty(k, dtype=np.int64)
    renumber[order] = np.arange(k)
    labels = renumber[labels]
    # Raw k-means centres: a later user is assigned exactly as k-means would (nearest centre).
    centers = kmeans.cluster_centers_[order]

    components = min(2, normalised.shape[1], len(normalised))
    pca = PCA(n_components=components, random_state=SEED).fit(normalised)
    user_xy = _pad_xy(pca.transform(normalised))
    clustering = Clustering(list(user_ids), labels, centers, silhouettes, user_xy, [], np.zeros((0, 2)), pca)
    if title_ids is not None and title_vectors is not None:  # given together
        clustering.titles_project(title_ids, title_vectors)
    return clustering


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
    genre_stats = _genre_lifts(counted=counted, k=k)
    title_stats = _distinctive_titles(counted=counted, user_ids=user_ids, labels=labels, k=k)
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
    _name_communities(communities)
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
    metrics.update(_persona_agreement(user_ids, labels))
    run.metrics = metrics
    run.save(update_fields=["metrics"])
    logger.info("Run %s: %d communities, ARI %s", run.pk, k, metrics.get("community_ari"))
    return communities, Placement(
        list(user_ids), pks[np.asarray(labels, dtype=np.int64)].tolist(), user_xy, list(title_ids), title_xy
    )


def _pad_xy(points: np.ndarray) -> np.ndarray:
    if points.shape[1] >= 2:
        return points[:, :2]
    return np.hstack([points, np.zeros((len(points), 2 - points.shape[1]))])


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


def _genre_lifts(*, counted: LikedCounts, k: int) -> dict[int, list[dict]]:
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
        for number in np.flatnonzero(counts[label]):
            share = counts[label, number] / mine
            base = overall[number] / total
            entries.append(
                {
                    "genre": names[number],
                    "share": round(float(share), 4),
                    "overall_share": round(float(base), 4),
                    "lift": round(float(share / base), 3) if base else 0.0,
                }
            )
        entries.sort(key=lambda entry: (-(entry["share"] >= MIN_GENRE_SHARE), -entry["lift"], entry["genre"]))
        result[label] = entries
    return result


def _distinctive_titles(*, counted: LikedCounts, user_ids: list, labels: np.ndarray, k: int) -> dict[int, list[dict]]:
    """Per community, the titles its members rate 4-5 stars far more often than everyone does.

    ``share`` is the fraction of members who rated the title 4 or 5, ``overall_share`` the fraction
    of all clustered users; titles are ranked by the difference (a title everyone loves is not
    distinctive, one nobody in the community knows is not its taste); titles liked by fewer than
    two users are left out.
    """
    sizes = np.maximum(np.bincount(np.asarray(labels, dtype=np.int64), minlength=k), 1)
    total = max(1, len(user_ids))
    per_title, titles = counted.per_title, counted.titles
    overall = per_title.sum(axis=0)
    result: dict[int, list[dict]] = {label: [] for label in range(k)}
    for label in range(k):
        candidates = np.flatnonzero((per_title[label] > 0) & (overall >= 2))
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
                }
            )
    return result


def _name_communities(communities: list[TasteCommunity]) -> None:
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


def _persona_agreement(user_ids: list, labels: np.ndarray) -> dict:
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
        "community_ari": round(float(adjusted_rand_score(truth, predicted)), 4),
        "community_ari_users": len(positions),
        "community_persona_table": table,
    }


# --- selectors ---------------------------------------------------------------------------------


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
    recovered.update(_persona_agreement(user_ids, labels))
    sample = rows[:: max(1, len(rows) // 3000)]
    unit = _normalise(np.array([row[2] for row in sample], dtype=np.float64))
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


def community_titles(*, community: TasteCommunity, limit: int = 12, exclude: set[str] | None = None) -> list[Title]:
    """The community's distinctive titles as ``Title`` objects (with ``lift`` set), best first."""
    entries = [entry for entry in community.top_titles if not exclude or entry["tconst"] not in exclude]
    titles = Title.objects.in_bulk([entry["tconst"] for entry in entries])
    result = []
    for entry in entries:
        title = titles.get(entry["tconst"])
        if title is None or title.removed_at is not None:
            continue
        # Shown by the template next to the title.
        title.community_lift = entry.get("lift")  # type: ignore[attr-defined]
        title.community_share = entry.get("share")  # type: ignore[attr-defined]
        title.community_overall_share = entry.get("overall_share")  # type: ignore[attr-defined]
        result.append(title)
        if len(result) >= limit:
            break
    return result


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

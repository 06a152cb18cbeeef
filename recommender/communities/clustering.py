"""Clustering a run's user vectors into communities and projecting users and titles on a 2-D map.

Pure numpy and scikit-learn, no database: ``communities_cluster`` returns a ``Clustering`` (labels,
k-means centres, silhouettes, map positions and the PCA) that ``recommender.communities.storing``
turns into rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings

if TYPE_CHECKING:
    from sklearn.decomposition import PCA

# scikit-learn is imported where it is used, not here: the pages' providers reach this module at
# start-up, and importing scikit-learn there cost every web and worker process about 85 MB.

SILHOUETTE_SAMPLE = 2000  # users scored for the choice of k (the silhouette is quadratic in them)
# A community should be a crowd: k is capped so that the average community has this many members.
MIN_AVERAGE_SIZE = 10
SEED = 42


def _k_range() -> range:
    low, high = getattr(settings, "RECOMMENDER_COMMUNITIES_K_RANGE", (3, 10))
    return range(int(low), int(high) + 1)


def normalise(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


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
    from sklearn.cluster import KMeans
    from sklearn.metrics import pairwise_distances, silhouette_score

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
            _pad_xy(self.pca.transform(normalise(vectors))) if len(self.title_ids) and self.pca else np.zeros((0, 2))
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
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    normalised = normalise(np.asarray(user_vectors, dtype=np.float64))
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


def _pad_xy(points: np.ndarray) -> np.ndarray:
    if points.shape[1] >= 2:
        return points[:, :2]
    return np.hstack([points, np.zeros((len(points), 2 - points.shape[1]))])

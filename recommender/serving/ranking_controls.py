"""A member's say over their list, as numpy: how the controls move the ranking (no Django here).

The live list (``recommender.serving.ranking``) and the offline measurement on MovieLens
(``recommender.quality.controls``) call these same functions, so what is measured is what is served
(recommender/DESIGN.md §10):

* ``discovery_weight(step)`` — the discovery control, "crowd pleasers" (1) to "hidden gems" (5),
  as a weight added to the run's own popularity weight: ``score_ui = x_u·y_i + (popularity_weight +
  w_step)·pop_i`` with ``pop_i = log(1 + n_i) / log(1 + max n)``, ``n_i`` the title's training
  ratings (its support in the run);
* ``year_genre_mask`` — titles older than a year and titles of a genre, hidden;
* ``variety_order`` — "more variety": maximal marginal relevance over the ranking vectors (or a
  similarity given, e.g. ``genre_similarity``, which the bench measures beside it);
* ``intra_list_diversity`` — the mean pairwise cosine distance of the ranking vectors, the
  similarity "variety" penalises (evaluate_recommender's figure, over the titles' rating vectors,
  is ``quality.beyond``'s; the bench reports both);
* ``list_order`` — the sorts of the shown list (best match, predicted stars, IMDb rating, year,
  popularity): an order of the member's best titles, not another ranking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DISCOVERY_STEPS = {
    1: "Crowd pleasers",
    2: "Popular",
    3: "Balanced",
    4: "Lesser known",
    5: "Hidden gems",
}
DISCOVERY_DEFAULT = 3
# Added to the run's popularity weight (0.3 by default) on pop_i in [0, 1]; the ranking scores
# x_u·y_i of a member's top titles are mostly 0.2–1.0, so +1 / −1.15 moves a list from the most rated
# titles to the least rated ones without leaving the member's taste (measured: DESIGN.md §10).
DISCOVERY_WEIGHTS = {1: 1.0, 2: 0.35, 3: 0.0, 4: -0.5, 5: -1.15}
# "Hidden gems" still needs evidence: a title rated by a handful has a vector that is mostly
# noise (the similar titles ask for 2), so the steps past "balanced" skip titles with less support.
DISCOVERY_MIN_SUPPORT = {4: 5, 5: 5}

# Maximal marginal relevance: each next title maximises (1 − λ)·relevance − λ·(its mean cosine
# similarity to the titles already chosen), relevance = score / the best score, the cosine between
# the titles' ranking vectors (the live list has no rating matrix; the rating vectors' cosine, which
# evaluate_recommender's diversity measures, did no better offline: DESIGN.md §10). The n-th pick is
# taken among the best n + VARIETY_WINDOW titles by score (a pool of about 200 for the top 10), so
# variety reorders the head of the member's own list. λ and the window were chosen together by
# cross-validation on the training part of three MovieLens splits (``bench/bench_controls.py
# --cross-validate``, DESIGN.md §10): the largest mean diversity gain whose mean precision@10 loss
# on the validation parts stays within 10 %.
VARIETY_TRADEOFF = 0.5
VARIETY_WINDOW = 190


# The list's sorts, in the URL (``?sort=``). "Best match" is the ranking itself; the others reorder
# the member's best LIVE_LIST_LIMIT titles by one figure, ties kept in best-match order.
LIST_SORTS = {
    "best": "Best match",
    "stars": "Predicted stars",
    "imdb": "IMDb rating",
    "year": "Year",
    "popularity": "Popularity",
}
SORT_DEFAULT = "best"
# What the page says about the two orders members compare (issue 17: a 5.0 below a 4.8).
SORT_BEST_MATCH_NOTE = (
    "Best match weighs how likely you are to pick a title — how strongly viewers with your taste "
    "chose it, what it shares (people, genres) with titles you rated highly, and how popular it is — "
    "while predicted stars only estimate how much you would like it once watched."
)


def sort_parse(value: object) -> str:
    """A sort from the URL: one of ``LIST_SORTS``, else the default (an unknown value is not an error:
    an old or hand-edited link still shows the list)."""
    return value if isinstance(value, str) and value in LIST_SORTS else SORT_DEFAULT


def list_order(
    sort: str,
    *,
    predicted: np.ndarray,
    imdb_rating: np.ndarray,
    year: np.ndarray,
    votes: np.ndarray,
) -> np.ndarray:
    """The order (indexes) of a best-match-ordered list under ``sort``: highest first (newest for
    the year), unknown values last, ties in best-match order."""
    if sort not in LIST_SORTS or sort == SORT_DEFAULT:
        return np.arange(len(predicted))
    key = {"stars": predicted, "imdb": imdb_rating, "year": year, "popularity": votes}[sort]
    key = np.asarray(key, dtype=np.float64)
    known = ~np.isnan(key)
    # lexsort: the last key is the primary one; position breaks ties (best match first).
    return np.lexsort((np.arange(len(key)), -np.where(known, key, 0.0), ~known))


@dataclass(frozen=True)
class RankingControls:
    """The member's controls (``RecommendationControls`` rows hold them; the URL may override)."""

    discovery: int = DISCOVERY_DEFAULT
    variety: bool = False
    hide_before: int | None = None  # titles that started before this year are hidden
    hide_genre: str = ""

    @property
    def neutral(self) -> bool:
        return self == RankingControls()

    @property
    def discovery_label(self) -> str:
        return DISCOVERY_STEPS[self.discovery]

    def query(self) -> dict[str, str]:
        """The controls as URL parameters: discovery and variety always (a link then means the same
        list for whoever opens it, whatever they saved), the hidden year and genre when set."""
        params = {"discovery": str(self.discovery), "variety": "1" if self.variety else "0"}
        if self.hide_before is not None:
            params["hide_before"] = str(self.hide_before)
        if self.hide_genre:
            params["hide_genre"] = self.hide_genre
        return params

    def key(self) -> str:
        """A canonical text of the controls for cache keys (always all four, validated values)."""
        return f"d{self.discovery}:v{int(self.variety)}:y{self.hide_before or ''}:g{self.hide_genre}"


def discovery_weight(step: int) -> float:
    return DISCOVERY_WEIGHTS[step]


def discovery_adjust(scores: np.ndarray, popularity: np.ndarray, step: int) -> np.ndarray:
    """``scores`` with the step's weight on ``pop_i`` added (``popularity`` = pop_i in [0, 1])."""
    weight = discovery_weight(step)
    if not weight:
        return scores
    return scores + scores.dtype.type(weight) * popularity.astype(scores.dtype, copy=False)


def year_genre_mask(
    controls: RankingControls,
    *,
    year: np.ndarray,
    genre_masks: dict[str, np.ndarray],
    support: np.ndarray,
) -> np.ndarray | None:
    """Titles the controls leave in (True), or None when they hide nothing. A title of unknown year
    is kept (it is not known to be older); an unknown genre hides nothing."""
    masks = []
    if controls.hide_before is not None:
        with np.errstate(invalid="ignore"):
            masks.append(~(year < controls.hide_before))
    if controls.hide_genre and controls.hide_genre in genre_masks:
        masks.append(~genre_masks[controls.hide_genre])
    minimum = DISCOVERY_MIN_SUPPORT.get(controls.discovery)
    if minimum:
        masks.append(support >= minimum)
    if not masks:
        return None
    return np.logical_and.reduce(masks)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def variety_order(
    scores: np.ndarray,
    vectors: np.ndarray,
    count: int,
    *,
    user_vector: np.ndarray | None = None,
    tradeoff: float | None = None,
    window: int | None = None,
    residual: bool = False,
    similarity: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy maximal marginal relevance: the order (indexes into ``scores``) of ``count`` items.

    ``scores`` are the candidates' ranking scores, best first; ``vectors`` their ranking vectors.
    The first pick is the best score; the n-th maximises ``(1 − tradeoff)·score/best −
    tradeoff·(mean cosine to the picks)`` among the first ``n + window`` candidates. The cosine is
    the one ``intra_list_diversity`` measures; with ``residual`` (the first version, kept for the
    comparison in DESIGN.md §10) it is taken on the part of each vector that ``user_vector`` does
    not explain. ``similarity`` (candidates × candidates, e.g. ``genre_similarity``) replaces the
    vectors' cosine: the genre re-ranking measured beside the served one (DESIGN.md §10). Greedy
    picks do not depend on ``count``, so the first 10 of a list of 200 are the first 10 of a list
    of 10.
    """
    tradeoff = VARIETY_TRADEOFF if tradeoff is None else tradeoff
    window = VARIETY_WINDOW if window is None else window
    scores = np.asarray(scores, dtype=np.float64)
    count = min(count, len(scores))
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    if similarity is None:
        vectors = np.asarray(vectors, dtype=np.float64)
        if residual and user_vector is not None and np.linalg.norm(user_vector) > 0:
            direction = np.asarray(user_vector, dtype=np.float64) / np.linalg.norm(user_vector)
            vectors = vectors - np.outer(vectors @ direction, direction)
        unit = unit_rows(vectors)
        similarity = unit @ unit.T
    best = float(scores.max())
    relevance = scores / best if best > 0 else scores - best
    total = np.zeros(len(scores))  # each candidate's summed cosine to the picks
    chosen = np.zeros(len(scores), dtype=bool)
    order = np.empty(count, dtype=np.int64)
    pick = int(np.argmax(scores))  # ties go to the lower index: candidates come best first
    for n in range(count):
        order[n] = pick
        chosen[pick] = True
        if n + 1 == count:
            break
        total += similarity[:, pick]
        value = (1.0 - tradeoff) * relevance - tradeoff * total / (n + 1)
        value[chosen] = -np.inf
        value[n + 1 + window :] = -np.inf
        pick = int(np.argmax(value))
    return order


def intra_list_diversity(vectors: np.ndarray) -> float:
    """Mean pairwise cosine distance (1 − cos) between the rows of ``vectors`` (one list), 0 for
    fewer than two."""
    count = len(vectors)
    if count < 2:
        return 0.0
    unit = unit_rows(vectors)
    cosine = unit @ unit.T
    upper = np.triu_indices(count, 1)
    return float(np.mean(1.0 - cosine[upper]))


def genre_similarity(genres: np.ndarray) -> np.ndarray:
    """The Jaccard similarity |A ∩ B| / |A ∪ B| of every pair of rows of ``genres`` (titles ×
    genres, 0/1): 1 − ``genre_diversity``'s distance (two titles without genres are alike)."""
    genres = np.asarray(genres, dtype=np.float64)
    shared = genres @ genres.T
    sizes = genres.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - shared
    return np.divide(shared, union, out=np.ones_like(shared), where=union > 0)


def genre_diversity(genre_sets: list[frozenset]) -> float:
    """Mean pairwise Jaccard distance of the titles' genre sets: the model-free check of variety."""
    count = len(genre_sets)
    if count < 2:
        return 0.0
    total, pairs = 0.0, 0
    for i in range(count):
        for j in range(i + 1, count):
            union = genre_sets[i] | genre_sets[j]
            total += 1.0 - (len(genre_sets[i] & genre_sets[j]) / len(union) if union else 1.0)
            pairs += 1
    return total / pairs

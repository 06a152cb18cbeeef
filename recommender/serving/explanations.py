""" "Because you rated X ★★★★★", "Directed by Y, like X, which you rated ★★★★★": what raised a title.

The hybrid's score of a title ``i`` for user ``u`` (``recommender/DESIGN.md`` §1 and §11) is a sum
over the user's ratings plus a popularity term. The collaborative part's user vector solves one
least-squares system (the fold-in): ``x_u = A⁻¹ Σ_j c_uj y_j`` with
``A = YᵀY + Σ_j alpha·w_uj y_j y_jᵀ + reg·n_u·I``, so

    x_u·y_i = Σ_j  c_uj · y_iᵀ A⁻¹ y_j                   (Hu, Koren & Volinsky 2008, §5)

the content term is ``Σ_j l_i · content_weight · v_uj · s(i, j) / (n_u + content_prior)`` (l_i: the lift of
a title with few ratings, ``scoring.content_lift``) and the
item-item term ``Σ_j g_u B[j, i]`` (§1, pruned EASE weights). So

    score_ui = Σ_j [ c_uj y_iᵀ A⁻¹ y_j  +  l_i content_weight v_uj s(i, j) / (n_u + content_prior)  +  g_u B[j, i] ]
               + popularity_weight · pop_i

Each bracket is how much rating ``j`` raised title ``i``: the explanation names the rated titles
with the largest brackets. When the largest one comes mostly from content and the two titles
share a person, the explanation names that person ("Directed by Alfred Hitchcock, like Rear
Window, which you rated ★★★★★"). When the popularity term outweighs every rating's
contributions together, it says the title is popular here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.db import connection

from catalog.models import Title
from recommender.serving.foldin import fitted_known, ranking_system
from recommender.serving.run_model import RunModel
from recommender.spark import scoring
from recommender.spark.content import CAST_BILLING

# A rated title is named only if it carries at least this share of the positive contributions, or,
# for users with many ratings (where every share is small), twice the average share.
MIN_SHARE = 0.08
MAX_REASONS = 2
# In the ranking model every rating is a sign of interest (a one-star rating still says "I watch
# this kind of film"), so low ratings can contribute. But "Because you rated X ★" reads as nonsense
# to a person: only ratings of at least this many stars are named; the others stay in ``others``.
NAMED_MIN_STARS = 3


@dataclass
class Reason:
    tconst: str
    stars: int
    contribution: float
    share: float  # of the positive contributions to this title's score
    title: Title | None = None
    content: float = 0.0  # the part of ``contribution`` that came from content (DESIGN.md §11)

    @property
    def star_string(self) -> str:
        return "★" * self.stars


# A link to a person is named when content carries at least this share of the top reason.
PERSON_CONTENT_SHARE = 0.5
PERSON_LABELS = {"director": "Directed by", "writer": "Written by", "cast": "With"}


@dataclass
class Explanation:
    reasons: list[Reason] = field(default_factory=list)
    # Further contributors, for the detail shown on hover / to screen readers.
    others: list[Reason] = field(default_factory=list)
    popularity: float = 0.0  # the popularity term of the score, when the run uses one
    threshold: float = MIN_SHARE  # the share a rating needed to be named
    positive: float = 0.0  # the sum of the positive contributions of the user's ratings
    person_role: str = ""  # "director", "writer" or "cast" when a shared person is named
    person_name: str = ""

    @property
    def popular(self) -> bool:
        """The popularity term raised the title more than all the user's ratings together."""
        return self.popularity > 0 and self.popularity >= self.positive

    @property
    def kind(self) -> str:
        if self.popular:
            return "popular"
        if not self.reasons:
            return "taste"
        return "person" if self.person_name else "ratings"

    @property
    def text(self) -> str:
        kind = self.kind
        if kind == "popular":
            return "Popular with this site's viewers, more than any of your ratings points to"
        if kind == "taste":
            if self.popularity > 0:
                return "Popular with viewers whose ratings resemble yours"
            return "A pick from the overall shape of your taste"
        named = [
            f"{reason.title.primary_title if reason.title else reason.tconst} {reason.star_string}"
            for reason in self.reasons
        ]
        if kind == "person":
            first = self.reasons[0]
            return (
                f"{PERSON_LABELS[self.person_role]} {self.person_name}, like "
                f"{first.title.primary_title if first.title else first.tconst}, which you rated {first.star_string}"
            )
        return "Because you rated " + " and ".join(named)


def contributions(
    *, model: RunModel, ratings: dict[str, int], positions: list[int] | np.ndarray, with_content: bool = False
):
    """The matrix ``C[r, j]`` of the docstring's brackets for titles at ``positions`` (rows) and
    the user's rated titles known to the model (columns), with those columns' tconsts and stars
    (and, ``with_content``, the content part of ``C`` as a fourth value). ``C.sum(axis=1)`` plus the
    popularity term is the title's score."""
    known = [(tconst, score) for tconst, score in ratings.items() if tconst in model.index]
    positions = np.asarray(positions, dtype=np.int64)
    if not known or len(positions) == 0:
        empty = np.zeros((len(positions), 0))
        return (empty, [], [], empty) if with_content else (empty, [], [])
    rated_positions = np.array([model.index[tconst] for tconst, _ in known], dtype=np.int64)
    scores = np.array([score for _, score in known], dtype=np.float64)
    matrix = np.zeros((len(positions), len(known)))
    fitted = fitted_known(model, rated_positions)
    if fitted.any():
        system, _, confidence = ranking_system(model, rated_positions[fitted], scores[fitted])
        solved = np.linalg.solve(system, model.factors[rated_positions[fitted]].T)  # A⁻¹ y_j as columns
        matrix[:, fitted] = (model.factors[positions] @ solved) * confidence
    content = np.zeros_like(matrix)
    if model.params.get("content_weight") and len(model.content_neighbours.rows):
        # s(r, j) from j's neighbour list, for each rated title j
        weight = scoring.content_leaning(scores, model.params) * scoring.content_scale(len(known), model.params)
        lift = scoring.content_lift(model.support, model.params)  # titles with few ratings: l_r
        neighbours = model.content_neighbours
        row_of = {int(position): row for row, position in enumerate(positions)}
        for column, rated in enumerate(rated_positions):
            low, high = neighbours.offsets[rated], neighbours.offsets[rated + 1]
            for neighbour, similarity in zip(neighbours.rows[low:high], neighbours.scores[low:high], strict=True):
                row = row_of.get(int(neighbour))
                if row is not None:
                    content[row, column] = (
                        weight[column] * float(similarity) * (1.0 if lift is None else float(lift[neighbour]))
                    )
        matrix = matrix + content
    if model.params.get("item_weight") and len(model.item_neighbours.rows):
        # the item-item term (DESIGN.md §1): g_u · B[j, r] from j's list, for each rated title j
        item_weight = float(scoring.item_rating_weight(len(known), model.params))
        row_at = np.full(model.size, -1, dtype=np.int64)
        row_at[positions] = np.arange(len(positions))
        items = model.item_neighbours
        low, high = items.offsets[rated_positions], items.offsets[rated_positions + 1]
        lengths = high - low
        entries = np.repeat(low - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(lengths.sum())
        columns = np.repeat(np.arange(len(rated_positions)), lengths)
        rows = row_at[items.rows[entries]]
        wanted = rows >= 0
        np.add.at(
            matrix,
            (rows[wanted], columns[wanted]),
            item_weight * items.scores[entries[wanted]].astype(np.float64),
        )
    tconsts, stars = [tconst for tconst, _ in known], [int(score) for _, score in known]
    return (matrix, tconsts, stars, content) if with_content else (matrix, tconsts, stars)


def explanations_for(
    *, model: RunModel, ratings: dict[str, int], positions: list[int] | np.ndarray, with_titles: bool = True
) -> list[Explanation]:
    """One ``Explanation`` per title at ``positions``, naming the user's most contributing ratings
    (and the person a title shares with the first of them, when content raised it)."""
    matrix, tconsts, stars, content = contributions(
        model=model, ratings=ratings, positions=positions, with_content=True
    )
    explanations = []
    for row_number, position in enumerate(positions):
        explanation = Explanation(popularity=float(model.popularity[position]))
        if matrix.shape[1]:
            row = matrix[row_number]
            positive = explanation.positive = float(row[row > 0].sum())
            if positive > 0:
                threshold = explanation.threshold = min(MIN_SHARE, 2.0 / int((row > 0).sum()))
                order = np.argsort(-row, kind="stable")
                for column in order[: MAX_REASONS + 4]:
                    if row[column] <= 0:
                        break
                    reason = Reason(
                        tconst=tconsts[column],
                        stars=stars[column],
                        contribution=float(row[column]),
                        share=float(row[column] / positive),
                        content=float(content[row_number, column]),
                    )
                    if (
                        len(explanation.reasons) < MAX_REASONS
                        and reason.share >= threshold
                        and reason.stars >= NAMED_MIN_STARS
                    ):
                        explanation.reasons.append(reason)
                    else:
                        explanation.others.append(reason)
        explanations.append(explanation)
    _people_name(explanations, [model.tconsts[position] for position in positions])
    if with_titles:
        wanted = {reason.tconst for item in explanations for reason in item.reasons + item.others}
        titles = Title.objects.only("tconst", "primary_title", "start_year").in_bulk(wanted)
        for item in explanations:
            for reason in item.reasons + item.others:
                reason.title = titles.get(reason.tconst)
    return explanations


def _people_name(explanations: list[Explanation], tconsts: list[str]) -> None:
    """For each explanation whose first reason owes most to content: the strongest person the
    recommended title shares with that rated title (a director before a writer before the cast),
    read in one query for the whole page."""
    pairs = [
        (tconst, explanation.reasons[0].tconst)
        for tconst, explanation in zip(tconsts, explanations, strict=True)
        if explanation.reasons
        and not explanation.popular
        and explanation.reasons[0].content >= PERSON_CONTENT_SHARE * explanation.reasons[0].contribution
    ]
    if not pairs:
        return
    wanted = sorted({tconst for pair in pairs for tconst in pair})
    credits: dict[str, dict[str, str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.title_id, c.person_id, c.role, p.primary_name
            FROM catalog_crew c JOIN catalog_person p ON p.nconst = c.person_id
            WHERE c.title_id = ANY(%(titles)s) AND c.removed_at IS NULL
            UNION ALL
            SELECT r.title_id, r.person_id, 'cast', p.primary_name
            FROM catalog_principal r JOIN catalog_person p ON p.nconst = r.person_id
            WHERE r.title_id = ANY(%(titles)s) AND r.removed_at IS NULL AND r.category IN ('actor', 'actress')
              AND r.ordering <= %(billing)s
            """,
            {"titles": wanted, "billing": CAST_BILLING},
        )
        for title_id, person_id, role, name in cursor.fetchall():
            roles = credits.setdefault(title_id, {})
            key = f"{person_id}\t{name}"
            if key not in roles or ROLE_ORDER.index(role) < ROLE_ORDER.index(roles[key]):
                roles[key] = role
    by_title = dict(zip(tconsts, explanations, strict=True))
    for tconst, rated in pairs:
        mine, theirs = credits.get(tconst, {}), credits.get(rated, {})
        shared = [
            (max(ROLE_ORDER.index(mine[key]), ROLE_ORDER.index(theirs[key])), key)
            for key in mine.keys() & theirs.keys()
        ]
        if not shared:
            continue
        _, key = min(shared)
        explanation = by_title[tconst]
        explanation.person_role = mine[key]  # the person's part in the recommended title
        explanation.person_name = key.split("\t", 1)[1]


ROLE_ORDER = ("director", "writer", "cast")

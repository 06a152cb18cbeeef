""" "Because you rated X ★★★★★ and Y ★★★★": which of the user's ratings put a title on their list.

The ranking model's user vector is the solution of one least-squares system (``recommender/DESIGN.md``
§1, the fold-in): ``x_u = A⁻¹ Σ_j c_uj y_j`` over the titles ``j`` the user rated, with
``A = YᵀY + Σ_j alpha·w_uj y_j y_jᵀ + reg·n_u·I``. The score of a recommended title ``i`` is
therefore a sum over the user's ratings,

    x_u·y_i = Σ_j  c_uj · y_iᵀ A⁻¹ y_j

(Hu, Koren & Volinsky 2008, §5). Each term is how much rating ``j`` contributes to recommending
``i``: the explanation names the rated titles with the largest positive terms. ``A⁻¹`` is the
user's own: two titles that are similar in general but that the user's other ratings already
account for contribute little.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from catalog.models import Title
from recommender.serving.foldin import ranking_system
from recommender.serving.run_model import RunModel

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

    @property
    def star_string(self) -> str:
        return "★" * self.stars


@dataclass
class Explanation:
    reasons: list[Reason] = field(default_factory=list)
    # Further contributors, for the detail shown on hover / to screen readers.
    others: list[Reason] = field(default_factory=list)
    popularity: float = 0.0  # the popularity term of the score, when the run uses one
    threshold: float = MIN_SHARE  # the share a rating needed to be named

    @property
    def text(self) -> str:
        if not self.reasons:
            if self.popularity > 0:
                return "Popular with viewers whose ratings resemble yours"
            return "A pick from the overall shape of your taste"
        named = [
            f"{reason.title.primary_title if reason.title else reason.tconst} {reason.star_string}"
            for reason in self.reasons
        ]
        return "Because you rated " + " and ".join(named)


def contributions(
    *, model: RunModel, ratings: dict[str, int], positions: list[int] | np.ndarray
) -> tuple[np.ndarray, list[str], list[int]]:
    """The matrix ``C[r, j] = c_uj · y_rᵀ A⁻¹ y_j`` for titles at ``positions`` (rows) and the user's
    rated titles known to the model (columns), with those columns' tconsts and stars."""
    known = [(tconst, score) for tconst, score in ratings.items() if tconst in model.index]
    if not known or len(positions) == 0:
        return np.zeros((len(positions), 0)), [], []
    rated_positions = np.array([model.index[tconst] for tconst, _ in known], dtype=np.int64)
    scores = np.array([score for _, score in known], dtype=np.float64)
    system, _, confidence = ranking_system(model, rated_positions, scores)
    solved = np.linalg.solve(system, model.factors[rated_positions].T)  # A⁻¹ y_j as columns
    matrix = (model.factors[np.asarray(positions)] @ solved) * confidence
    return matrix, [tconst for tconst, _ in known], [int(score) for _, score in known]


def explanations_for(
    *, model: RunModel, ratings: dict[str, int], positions: list[int] | np.ndarray, with_titles: bool = True
) -> list[Explanation]:
    """One ``Explanation`` per title at ``positions``, naming the user's most contributing ratings."""
    matrix, tconsts, stars = contributions(model=model, ratings=ratings, positions=positions)
    explanations = []
    for row_number, position in enumerate(positions):
        explanation = Explanation(popularity=float(model.popularity[position]))
        if matrix.shape[1]:
            row = matrix[row_number]
            positive = row[row > 0].sum()
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
    if with_titles:
        wanted = {reason.tconst for item in explanations for reason in item.reasons + item.others}
        titles = Title.objects.only("tconst", "primary_title", "start_year").in_bulk(wanted)
        for item in explanations:
            for reason in item.reasons + item.others:
                reason.title = titles.get(reason.tconst)
    return explanations

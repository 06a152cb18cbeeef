"""What ratings adds to the pages of the apps below it (registered in ``RatingsConfig.ready()``):
the member's own stars, watchlist and "not interested" state on catalog pages, and the rating
summary on the profile. Each reads through ``ratings.selectors`` in a fixed number of queries."""

from imdbrec.extensions import Section
from ratings import selectors


def title_annotate(*, user, titles) -> None:
    """Each title gets ``user_score``: the member's stars, or None (one query for the page)."""
    scores = selectors.rating_scores_for_user(user=user, tconsts=[title.tconst for title in titles])
    for title in titles:
        title.user_score = scores.get(title.tconst)


def title_page_context(*, request, title) -> dict:
    tconsts = [title.tconst]
    return {
        "in_watchlist": bool(selectors.watchlist_tconsts_for_user(user=request.user, tconsts=tconsts)),
        "is_not_interested": bool(selectors.not_interested_tconsts_for_user(user=request.user, tconsts=tconsts)),
        "member_ratings": selectors.title_member_ratings(tconst=title.tconst),
    }


def profile_summary_section(*, request) -> Section:
    summary = selectors.rating_profile_summary_for_user(user=request.user)
    return Section("ratings/_profile_summary.html", request, {"summary": summary})


def export_offer_section(*, request) -> Section:
    """On the delete-account page: take everything away first (``/me/export/``)."""
    summary = selectors.rating_profile_summary_for_user(user=request.user)
    return Section("ratings/_export_offer.html", request, {"summary": summary})

"""What the recommender adds to the pages of the apps below it (registered in
``RecommenderConfig.ready()``): "More like this" on the catalog's title page, and how well its
predictions matched and the member's taste community on the profile and statistics pages. The
data is read here, so the partials only render it."""

from imdbrec.extensions import Section
from recommender.communities.selectors import community_titles, user_place
from recommender.quality.outcomes import Quality, quality_for_user
from recommender.serving.member_controls import controls_for_user, controls_summary
from recommender.serving.onboarding import onboarding_progress
from recommender.serving.predictions import titles_predict
from recommender.serving.ranking_controls import DISCOVERY_STEPS
from recommender.serving.run_model import active_run, run_model_get
from recommender.serving.similar import similar_items_for_member, similar_title_list

STYLESHEETS = ("css/recommender.css",)
SIMILAR_TITLES_SHOWN = 12
QUALITY_ROWS_SHOWN = 8


def title_predictions_annotate(*, user, titles) -> None:
    """Each title gets ``predicted_rating``: the member's predicted stars, or None (no query per
    title; at most one fold-in per request)."""
    titles_predict(user=user, titles=titles)


def similar_titles_section(*, request, title) -> Section | None:
    """The active run's nearest titles, or content-based ones; nothing when there are none."""
    similar = similar_title_list(title=title, limit=SIMILAR_TITLES_SHOWN)
    if not similar:
        return None
    similar_items_for_member(user=getattr(request, "user", None), items=similar)
    context = {"title": title, "similar": similar}
    return Section("recommender/_similar_titles.html", request, context, stylesheets=STYLESHEETS)


def quality_section(*, request) -> Section | None:
    """How the model's earlier predictions compared with the ratings the member gave afterwards."""
    if not request.user.is_authenticated:
        return None
    quality = quality_for_user(user=request.user, limit=QUALITY_ROWS_SHOWN)
    recent = quality.matched[:QUALITY_ROWS_SHOWN]
    return Section("recommender/_profile_quality.html", request, {"quality": quality, "recent": recent})


def year_review_quality_section(*, request, year: int) -> Section | None:
    """In the year in review: how often the prediction made before a rating that year was close."""
    if not request.user.is_authenticated:
        return None
    quality = quality_for_user(user=request.user, with_titles=False)
    of_year = Quality(matched=[item for item in quality.matched if item.rated_at.year == year])
    return Section("recommender/_year_review_quality.html", request, {"quality": of_year, "year": year})


def taste_section(*, request) -> Section | None:
    """The member's taste community in the active run, its defining titles and the unlock progress."""
    if not request.user.is_authenticated:
        return None
    run = active_run()
    place = user_place(user=request.user, run=run)
    titles = community_titles(community=place.community, limit=4) if place and place.community else []
    taste = {"run": run, "place": place, "titles": titles, "progress": onboarding_progress(user=request.user)}
    return Section("recommender/_profile_community.html", request, {"taste": taste}, stylesheets=STYLESHEETS)


def controls_section(*, request) -> Section | None:
    """The member's say over their recommendations, with the form that changes it."""
    if not request.user.is_authenticated:
        return None
    controls = controls_for_user(user=request.user)
    run = active_run()
    model = run_model_get(run=run) if run is not None else None
    genres = model.genres if model is not None else []
    context = {
        "controls": controls,
        "summary": controls_summary(controls),
        "discovery_steps": DISCOVERY_STEPS.items(),
        "genres": genres,
    }
    return Section("recommender/_profile_controls.html", request, context, stylesheets=STYLESHEETS)

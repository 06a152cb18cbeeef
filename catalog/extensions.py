"""Where the apps above the catalog add to its pages (see ``imdbrec/extensions.py``).

- ``title_annotations``: ``provider(*, user, titles)`` sets attributes on the titles a page shows,
  in a fixed number of queries per page. Ratings sets ``user_score`` (the member's stars, or None);
  the recommender sets ``predicted_rating`` (the member's predicted stars, or None).
- ``title_page_context``: ``provider(*, request, title)`` returns a dict added to the title page's
  context. Ratings adds ``in_watchlist``, ``is_not_interested`` and ``member_ratings`` (the site
  members' count, average and distribution, shown beside IMDb's: ``catalog/_member_ratings.html``).
- ``title_page_sections``: ``provider(*, request, title)`` returns a ``Section`` (or None) shown
  below the title's details. The recommender adds "More like this".
"""

from imdbrec.extensions import ExtensionPoint

title_annotations = ExtensionPoint("catalog.title_annotations")
title_page_context = ExtensionPoint("catalog.title_page_context")
title_page_sections = ExtensionPoint("catalog.title_page_sections")

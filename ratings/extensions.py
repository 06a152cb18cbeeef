"""Where the apps above ratings add to its pages (see ``imdbrec/extensions.py``).

- ``stats_sections``: ``provider(*, request)`` returns a ``Section`` (or None) shown at the foot of
  the member's statistics page. The recommender adds how well its predictions matched.
- ``year_review_sections``: ``provider(*, request, year)`` returns a ``Section`` (or None) shown in
  the statistics page's year in review. The recommender adds how often its prediction was close
  to the ratings the member gave that year.
"""

from imdbrec.extensions import ExtensionPoint

stats_sections = ExtensionPoint("ratings.stats_sections")
year_review_sections = ExtensionPoint("ratings.year_review_sections")

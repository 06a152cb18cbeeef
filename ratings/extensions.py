"""Where the apps above ratings add to its pages (see ``imdbrec/extensions.py``).

- ``stats_sections``: ``provider(*, request)`` returns a ``Section`` (or None) shown at the foot of
  the member's statistics page. The recommender adds how well its predictions matched.
"""

from imdbrec.extensions import ExtensionPoint

stats_sections = ExtensionPoint("ratings.stats_sections")

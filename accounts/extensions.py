"""Where the apps above accounts add to its pages (see ``imdbrec/extensions.py``).

- ``profile_sections``: ``provider(*, request)`` returns a ``Section`` (or None) for the signed-in
  member's profile page. Ratings adds the rating summary; the recommender adds how well its
  predictions matched and the member's taste community.
"""

from imdbrec.extensions import ExtensionPoint

profile_sections = ExtensionPoint("accounts.profile_sections")

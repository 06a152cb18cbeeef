"""Where the apps above accounts add to its pages (see ``imdbrec/extensions.py``).

- ``profile_sections``: ``provider(*, request)`` returns a ``Section`` (or None) for the signed-in
  member's profile page. Ratings adds the rating summary; the recommender adds how well its
  predictions matched and the member's taste community.
- ``delete_sections``: ``provider(*, request)`` returns a ``Section`` (or None) shown on the
  delete-account page above the form: ratings offers the member's data as a ZIP first.
"""

from imdbrec.extensions import ExtensionPoint

profile_sections = ExtensionPoint("accounts.profile_sections")
delete_sections = ExtensionPoint("accounts.delete_sections")

"""Signals the ratings app sends to the apps above it (they connect in their ``AppConfig.ready()``).

``rating_changed``: a user's taste changed (a rating set or removed, a "not interested" mark added
or removed, an IMDb import that changed something). Sent with ``user``, inside the transaction
that made the change; a receiver that queues work defers it with ``transaction.on_commit``.
"""

from django.dispatch import Signal

rating_changed = Signal()

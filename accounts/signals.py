"""Signals the accounts app sends to the apps above it (they connect in their ``AppConfig.ready()``).

``user_deleting``: ``user`` is about to be deleted. Sent with ``user`` inside the deleting
transaction, so a receiver deletes the rows of the user that do not cascade, atomically with it.
"""

from django.dispatch import Signal

user_deleting = Signal()

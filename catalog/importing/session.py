"""The Postgres settings the IMDb import sets for its own transactions (``SET LOCAL``).

Nothing changes for other sessions or in the server's configuration; docs/full-size.md says why
each is set and what the import needs from the server (disk, memory, WAL).
"""

IMPORT_SESSION_SETTINGS = {
    # Losing the last commit in a crash is harmless here (rerun the import); waiting for each
    # WAL flush is not.
    "synchronous_commit": "off",
    # Memory to sort in for the unique constraints and indexes built after a first load: a
    # B-tree over 97 million principals sorts in a few runs instead of dozens, and a trigram
    # GIN index flushes its accumulator far less often. Two builds run at once (indexes.py).
    "maintenance_work_mem": "1GB",
    # The hash joins of an update (staging table against the catalog) stay in memory.
    "work_mem": "256MB",
}

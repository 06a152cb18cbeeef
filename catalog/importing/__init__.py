"""IMDb import: streaming reader, row converters, COPY loader (with its reject spool and deferred
index builds) and downloader.

``catalog.services`` is the entry point (``import_run_create``, ``import_run_execute``); the
command ``import_imdb``, the Celery task and the staff system page all go through it.
"""

"""An upload to ``/me/import/`` stops being read as soon as it is over its limit.

Django's multipart parser reads and writes the whole file before the form can check it: a 5 MB
"Your Ratings" CSV of 170,000 lines was parsed to the end (and spooled to disk) only to be refused
for having more than ``MAX_RATINGS_IMPORT_ROWS`` rows. ``UploadLimitHandler`` runs first among the
upload handlers and counts as the file arrives: an IMDb ratings export is stopped after line
``MAX_RATINGS_IMPORT_ROWS + LINE_SLACK`` or ``MAX_RATINGS_UPLOAD_BYTES``, any other file after
``MAX_MEMBER_IMPORT_BYTES``. The rest of the body is read away unparsed (so the browser gets the
answer, not a reset connection) and the view shows ``request.upload_refused`` as the form's error.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.template.defaultfilters import filesizeformat

from ratings.imdb_csv import LINE_SLACK
from ratings.letterboxd import file_kind


class UploadLimitHandler(FileUploadHandler):
    def new_file(self, field_name, file_name, *args, **kwargs):
        super().new_file(field_name, file_name, *args, **kwargs)
        self.kind: str | None = None
        self.received = 0
        self.lines = 0

    def _refuse(self, message: str):
        self.request.upload_refused = message  # type: ignore[union-attr]  # read by the view
        raise StopUpload(connection_reset=False)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if self.kind is None:
            if raw_data.startswith(b"PK"):
                self.kind = "zip"
            else:
                encoding = "utf-16" if raw_data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
                self.kind = (
                    file_kind(self.file_name or "", raw_data[:4096].decode(encoding, errors="ignore")) or "other"
                )
        self.received += len(raw_data)
        if self.kind == "imdb":
            limit, max_rows = settings.MAX_RATINGS_UPLOAD_BYTES, settings.MAX_RATINGS_IMPORT_ROWS
            self.lines += raw_data.count(b"\n")
            if self.lines > max_rows + LINE_SLACK:
                self._refuse(
                    f"The file has more than {max_rows:,} ratings; the limit is {max_rows:,} per import. "
                    "Nothing was imported."
                )
        else:
            limit = max(settings.MAX_RATINGS_UPLOAD_BYTES, settings.MAX_MEMBER_IMPORT_BYTES)
        if self.received > limit:
            self._refuse(
                f"The file is at least {filesizeformat(self.received)}; the limit is {filesizeformat(limit)}. "
                "Nothing was imported."
            )
        return raw_data

    def file_complete(self, file_size: int):
        return None  # the next handler (memory or temporary file) keeps the file

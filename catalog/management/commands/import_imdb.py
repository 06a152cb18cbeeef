"""Import IMDb's datasets (the seven official .tsv.gz files) into the catalog.

  import_imdb --dir catalog/sample                       every IMDb file found in a directory
  import_imdb --dir DIR --only title.basics,title.ratings
  import_imdb --download [--dir DIR] [--base-url URL]    fetch the official files first (resumable)
  import_imdb --dir DIR --dry-run                        check the files, write nothing
  import_imdb --dir DIR --keep-missing                   add a partial file: flag nothing as removed

Each file is loaded in one transaction: new rows are added, changed rows updated, rows gone
from the file flagged as removed, and bad lines recorded as rejects (file, line, reason) while
the rest loads. Importing the same files twice changes nothing. Exits non-zero if a file failed.
"""

import sys
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog.importing.datasets import DATASET_NAMES, datasets_named
from catalog.importing.loader import LoadOptions, check_file
from catalog.importing.reader import FileProblem
from catalog.models import ImportReject, ImportRun
from catalog.services import import_run_create, import_run_execute

REJECTS_SHOWN = 10


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--dir", dest="directory", help="directory with the files (name.basics.tsv.gz, …)")
        parser.add_argument(
            "--only", default="", help=f"comma-separated files to import, of: {', '.join(DATASET_NAMES)}"
        )
        parser.add_argument(
            "--download", action="store_true", help="download the files first (into --dir, default IMDB_DATA_DIR)"
        )
        parser.add_argument(
            "--base-url", default=None, help="where to download from (default settings.IMDB_DOWNLOAD_BASE_URL)"
        )
        parser.add_argument("--dry-run", action="store_true", help="read and check the files, write nothing")
        parser.add_argument(
            "--keep-missing",
            action="store_true",
            help="do not flag rows missing from the files as removed (for a partial dump)",
        )

    def handle(
        self,
        *args,
        directory=None,
        only="",
        download=False,
        base_url=None,
        dry_run=False,
        keep_missing=False,
        **options,
    ):
        self.verbosity = options["verbosity"]
        files = [name.strip() for name in only.split(",") if name.strip()]
        if not directory and not download:
            raise CommandError("say where the files are: --dir DIR, or --download")
        if base_url and not download:
            raise CommandError("--base-url goes with --download")
        if dry_run:
            if download:
                raise CommandError("--dry-run checks files already on disk; it does not download")
            return self._dry_run(Path(directory), files)
        source = (base_url or settings.IMDB_DOWNLOAD_BASE_URL) if download else directory
        try:
            run = import_run_create(source=source, files=files)
        except ValidationError as error:
            raise CommandError(" ".join(message for messages in error.message_dict.values() for message in messages))
        self.bars = {}
        run = import_run_execute(
            run_id=run.pk,
            on_progress=self._progress,
            options=LoadOptions(flag_missing=not keep_missing),
            download_dir=directory or settings.IMDB_DATA_DIR,
        )
        for bar in self.bars.values():
            bar.close()
        self._report(run)
        if run.status != ImportRun.Status.SUCCEEDED:
            raise CommandError(f"import #{run.pk} {run.get_status_display().lower()}:\n{run.error}")

    # --- progress and report -------------------------------------------------------------------

    def _progress(self, event: dict) -> None:
        if event["phase"] == "index" and self.verbosity >= 1:  # after a big load: can take minutes
            self.stdout.write(f"building index {event['index']} on {event['file']}")
            return
        stream = getattr(self.stderr, "_out", sys.stderr)
        # bars in a terminal (or with -v 2); a log file gets the summary lines only
        if self.verbosity < 1 or (self.verbosity == 1 and not stream.isatty()):
            return
        phase, name = event["phase"], event["file"]
        if phase == "download":
            bar = self.bars.get(("download", name))
            if bar is None:
                bar = self.bars[("download", name)] = tqdm(
                    desc=f"download {name}",
                    total=event["total"],
                    unit="B",
                    unit_scale=True,
                    mininterval=0.5,
                    file=stream,
                )
            bar.update(event["done"] - bar.n)
            if event["total"] is not None and event["done"] >= event["total"]:
                self.bars.pop(("download", name)).close()
        elif phase == "start":
            self.bars[name] = tqdm(desc=name, unit=" rows", mininterval=0.5, delay=0.5, dynamic_ncols=True, file=stream)
        elif phase == "rows":
            bar = self.bars[name]
            if event["estimate"]:
                bar.total = max(event["estimate"], event["lines"])
            bar.update(event["lines"] - bar.n)
        elif phase == "step":
            bar = self.bars.get(name)
            if bar is not None:
                bar.set_postfix_str(event["step"])
        elif phase == "done":
            bar = self.bars.pop(name, None)
            if bar is not None:
                if not event["result"].get("error"):
                    bar.total = bar.n
                bar.close()

    def _report(self, run: ImportRun) -> None:
        if self.verbosity < 1:
            return
        for name, result in run.counts.items():
            if result.get("error"):
                self.stderr.write(self.style.ERROR(f"{name}: FAILED: {result['error']}"))
                continue
            rate = result["lines"] / result["seconds"] if result["seconds"] else 0
            self.stdout.write(
                f"{result['file']}: {result['mode']}, {result['lines']:,} lines: {result['loaded']:,} loaded "
                f"({result['inserted']:,} new, {result['updated']:,} changed, {result['removed']:,} removed), "
                f"{result['rejected']:,} rejected; {result['seconds']:.1f} s, {rate:,.0f} rows/s"
                + (f"; indexes built after: {result['indexes_seconds']:.1f} s" if result.get("indexes_seconds") else "")
            )
            if result["rejected"]:
                rejects = ImportReject.objects.filter(run=run, file=result["file"]).order_by("line")
                limit = None if self.verbosity >= 2 else REJECTS_SHOWN
                for reject in rejects[:limit]:
                    self.stdout.write(self.style.WARNING(f"  {reject}"))
                if limit and result["rejected"] > limit:
                    self.stdout.write(f"  … {result['rejected'] - limit:,} more (see the admin, or -v 2)")
        self.stdout.write(
            self.style.SUCCESS(f"import #{run.pk}: {run.get_status_display().lower()}")
            if run.status == ImportRun.Status.SUCCEEDED
            else f"import #{run.pk}: {run.status}"
        )

    def _dry_run(self, directory: Path, files: list[str]) -> None:
        try:
            datasets = datasets_named(files)
        except ValueError as error:
            raise CommandError(str(error))
        failed = False
        for dataset in datasets:
            path = dataset.path_in(directory)
            if path is None:
                if files:
                    self.stderr.write(self.style.ERROR(f"{dataset.name}: not found in {directory}"))
                    failed = True
                continue
            try:
                result, rejects = check_file(dataset=dataset, path=path)
            except FileProblem as error:
                self.stderr.write(self.style.ERROR(f"{dataset.name}: {error}"))
                failed = True
                continue
            if self.verbosity:
                self.stdout.write(
                    f"{path.name}: {result.lines:,} lines, {result.loaded:,} good, "
                    f"{result.rejected:,} rejected (dry run, nothing written)"
                )
                for line, reason in rejects[:REJECTS_SHOWN]:
                    self.stdout.write(self.style.WARNING(f"  {path.name}:{line}: {reason}"))
        if failed:
            raise CommandError("some files cannot be imported")

"""The staff system page's catalog actions: start an import, follow its progress."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from catalog.models import ImportRun
from catalog.services import import_run_download_start, import_run_sample_start, import_run_start
from imdbrec.decorators import staff_required
from imdbrec.queueing import BackgroundUnavailable

SOURCES = ("sample", "directory", "download")


@require_POST
@staff_required
def import_start(request):
    """Queue an import of the bundled sample, a server directory, or IMDb's download."""
    source = request.POST.get("source", "")
    try:
        if source == "sample":
            run = import_run_sample_start()
        elif source == "directory":
            run = import_run_start(
                source=request.POST.get("directory", ""), files=[name for name in request.POST.getlist("files") if name]
            )
        elif source == "download":
            run = import_run_download_start()
        else:
            raise ValidationError(f"Unknown import source {source!r}: choose one of {', '.join(SOURCES)}.")
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, f"Import not started: {message}")
        return redirect("/system/#catalog")
    except BackgroundUnavailable as error:
        messages.error(request, f"Import not started: {error}")
        return redirect("/system/#catalog")
    messages.success(request, f"Import #{run.pk} queued: {run.source}")
    return redirect("/system/#catalog")


def _progress_message(run: ImportRun) -> str:
    current = run.current_file
    if run.status == ImportRun.Status.QUEUED:
        return "Waiting for a worker…"
    if run.status != ImportRun.Status.RUNNING:
        return f"{run.get_status_display()}: {run.rows_done:,} lines" + (f" — {run.error}" if run.error else "")
    if current.startswith("downloading "):
        total = f" of {run.rows_total / 1e6:,.1f} MB" if run.rows_total else ""
        return f"Downloading {current[12:]}: {run.rows_done / 1e6:,.1f} MB{total}"
    if current.startswith("index "):
        return f"Building {current}"
    total = f" of about {run.rows_total:,}" if run.rows_total else ""
    return f"{current or 'Starting'}: {run.rows_done:,} lines{total}"


@never_cache
@require_GET
@staff_required
def import_progress(request, run_id: int):
    """``{"progress": 0..1, "message": str, "done": bool}`` for the progress bar (site.js polls it)."""
    run = get_object_or_404(ImportRun, pk=run_id)
    done = run.status not in (ImportRun.Status.QUEUED, ImportRun.Status.RUNNING)
    if done:
        progress = 1.0
    elif run.rows_total:
        progress = min(1.0, run.rows_done / run.rows_total)
    else:
        progress = 0.0
    return JsonResponse(
        {
            "progress": round(progress, 4),
            "message": _progress_message(run),
            "done": done,
            "status": run.status,
            "rows_done": run.rows_done,
        }
    )

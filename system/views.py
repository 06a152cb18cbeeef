"""The staff pages: the system page (health and one panel per app), the models page, and the
actions their forms post to. Each action validates its form, calls one service of the app that
does the work, and goes back to its panel with a message; the progress bars poll JSON views."""

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from catalog.selectors import import_run_list
from catalog.services import import_run_download_start, import_run_sample_start, import_run_start
from imdbrec.decorators import staff_required
from imdbrec.queueing import BackgroundUnavailable
from ratings.selectors import synthetic_run_list
from ratings.synthetic_runs import synthetic_run_generate_start, synthetic_run_remove_start
from recommender.selectors import model_run_list
from recommender.training.runs import model_run_start
from system import panels
from system.forms import (
    ImportStartForm,
    StaffActionForm,
    SyntheticGenerateForm,
    SyntheticRemoveForm,
    TrainingStartForm,
)


@never_cache
@staff_required
def index(request):
    """The staff system page: service health, data status, background jobs."""
    return render(request, "system/system.html", panels.system_page())


@never_cache
@staff_required
def models(request):
    """Staff: every run's metrics over time, the communities' agreement with personas, live quality."""
    return render(request, "system/models.html", panels.models_page())


def _panel(anchor: str) -> str:
    return f"{reverse('system:index')}#{anchor}"


def _action(request, form: StaffActionForm, start: Callable[[dict], str], *, anchor: str, refused: str):
    """Validate ``form``, call ``start`` with its data (it starts the job and says what it
    started), and go back to the panel: with that message, or with every error prefixed by
    ``refused`` (a service's refusal is shown as the service worded it; nothing started)."""
    if form.is_valid():
        try:
            started = start(form.cleaned_data)
        except (ValidationError, BackgroundUnavailable) as error:
            texts = error.messages if isinstance(error, ValidationError) else [str(error)]
            form.add_error(None, ValidationError(texts))
        else:
            messages.success(request, started)
            return redirect(_panel(anchor))
    for text in form.error_texts():
        messages.error(request, f"{refused}{text}")
    return redirect(_panel(anchor))


# --- data status (catalog) ----------------------------------------------------------------------------


@require_POST
@staff_required
def import_start(request):
    """Queue an import of the bundled sample, a server directory, or IMDb's download."""

    def start(data: dict) -> str:
        if data["source"] == "sample":
            run = import_run_sample_start()
        elif data["source"] == "directory":
            run = import_run_start(source=data["directory"], files=data["files"])
        else:
            run = import_run_download_start()
        return f"Import #{run.pk} queued: {run.source}"

    return _action(request, ImportStartForm(request.POST), start, anchor="catalog", refused="Import not started: ")


@never_cache
@require_GET
@staff_required
def import_progress(request, run_id: int):
    """``{"progress": 0..1, "message": str, "done": bool}`` for the progress bar (site.js polls it)."""
    return JsonResponse(panels.import_progress(get_object_or_404(import_run_list(), pk=run_id)))


# --- community raters (ratings) ----------------------------------------------------------------------


@require_POST
@staff_required
def synthetic_generate(request):
    """Queue the generator; the page then shows its progress bar."""

    def start(data: dict) -> str:
        synthetic_run_generate_start(users=data["users"], seed=data["seed"], min_votes=data["min_votes"])
        return f"Generating {data['users']:,} synthetic users with seed {data['seed']}."

    return _action(request, SyntheticGenerateForm(request.POST), start, anchor="ratings", refused="Not started: ")


@require_POST
@staff_required
def synthetic_remove(request):
    """Queue the removal of every synthetic user and their ratings."""

    def start(data: dict) -> str:
        synthetic_run_remove_start()
        return "Removing every synthetic user and their ratings."

    return _action(request, SyntheticRemoveForm(request.POST), start, anchor="ratings", refused="Not started: ")


@never_cache
@require_GET
@staff_required
def synthetic_progress(request, run_id: int):
    """``{"progress": 0..1, "message": str, "done": bool}`` for the progress bar (site.js polls it)."""
    return JsonResponse(panels.synthetic_progress(get_object_or_404(synthetic_run_list(), pk=run_id)))


# --- recommender training ----------------------------------------------------------------------------


@require_POST
@staff_required
def train_start(request):
    """Queue a training on the spark queue (refused while another is queued or running)."""
    form = TrainingStartForm(request.POST)

    def start(data: dict) -> str:
        run = model_run_start(params=form.params(), triggered_by=f"staff:{request.user.username}")
        return f"Training run #{run.pk} queued."

    return _action(request, form, start, anchor="recommender", refused="Training not started: ")


@never_cache
@require_GET
@staff_required
def train_progress(request, run_id: int):
    """``{"progress": 0..1, "message": str, "done": bool}`` for the progress bar (site.js polls it)."""
    return JsonResponse(panels.training_progress(get_object_or_404(model_run_list(), pk=run_id)))

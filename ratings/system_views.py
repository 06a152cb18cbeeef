"""The staff system page's synthetic-crowd actions: generate, remove, follow the job's progress."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from imdbrec.decorators import staff_required
from imdbrec.parsing import AsciiIntegerField
from imdbrec.queueing import BackgroundUnavailable
from ratings.selectors import synthetic_run_list
from ratings.synthetic_runs import synthetic_run_generate_start, synthetic_run_remove_start
from ratings.system import synthetic_run_status

PANEL_URL = "/system/#ratings"


class SyntheticGenerateForm(forms.Form):
    users = AsciiIntegerField(
        min_value=1,
        max_value=1_000_000,
        initial=3000,
        label="Users",
        help_text="How many synthetic users (seed:0 … seed:N-1); existing ones are kept.",
    )
    seed = AsciiIntegerField(
        min_value=0,
        max_value=2**31 - 1,
        initial=42,
        label="Seed",
        help_text="The same seed always gives the same users and ratings.",
    )
    min_votes = AsciiIntegerField(
        min_value=0,
        required=False,
        label="Minimum IMDb votes",
        help_text="Only titles with at least this many votes are rated (blank: the default).",
    )


@require_POST
@staff_required
def synthetic_generate(request):
    """Queue the generator; the page then shows its progress bar."""
    form = SyntheticGenerateForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(
                    request, f"Not started: {form.fields[field].label if field in form.fields else field}: {error}"
                )
        return redirect(PANEL_URL)
    data = form.cleaned_data
    try:
        synthetic_run_generate_start(users=data["users"], seed=data["seed"], min_votes=data["min_votes"])
    except BackgroundUnavailable as error:
        messages.error(request, str(error))
        return redirect(PANEL_URL)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(PANEL_URL)
    messages.success(request, f"Generating {data['users']:,} synthetic users with seed {data['seed']}.")
    return redirect(PANEL_URL)


@require_POST
@staff_required
def synthetic_remove(request):
    """Queue the removal of every synthetic user and their ratings."""
    try:
        synthetic_run_remove_start()
    except BackgroundUnavailable as error:
        messages.error(request, str(error))
        return redirect(PANEL_URL)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(PANEL_URL)
    messages.success(request, "Removing every synthetic user and their ratings.")
    return redirect(PANEL_URL)


@never_cache
@require_GET
@staff_required
def synthetic_progress(request, run_id: int):
    """``{"progress": 0..1, "message": str, "done": bool}`` for the progress bar (site.js polls it)."""
    return JsonResponse(synthetic_run_status(get_object_or_404(synthetic_run_list(), pk=run_id)))

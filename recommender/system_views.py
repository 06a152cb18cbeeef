"""The staff system page's recommender actions: start a training, follow its progress."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from imdbrec.decorators import staff_required
from imdbrec.queueing import BackgroundUnavailable
from recommender.models import ModelRun
from recommender.selectors import model_run_is_stale
from recommender.services import model_run_start

PANEL_URL = "/system/#recommender"
NUMBER_FIELDS = {"rank": int, "reg": float, "iterations": int, "alpha": float}


def _params_from(post) -> dict:
    params = {}
    for name, kind in NUMBER_FIELDS.items():
        text = (post.get(name) or "").strip()
        if not text:
            continue
        try:
            params[name] = kind(text)
        except ValueError:
            raise ValidationError(f"{name} must be a {'whole ' if kind is int else ''}number, not {text!r}.")
    if post.get("grid"):
        params["grid"] = True
    return params


@require_POST
@staff_required
def train_start(request):
    """Queue a training on the spark queue (refused while another is queued or running)."""
    try:
        run = model_run_start(params=_params_from(request.POST), triggered_by=f"staff:{request.user.username}")
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, f"Training not started: {message}")
        return redirect(PANEL_URL)
    except BackgroundUnavailable as error:
        messages.error(request, f"Training not started: {error}")
        return redirect(PANEL_URL)
    messages.success(request, f"Training run #{run.pk} queued.")
    return redirect(PANEL_URL)


def progress_message(run: ModelRun) -> str:
    if run.status == ModelRun.Status.QUEUED:
        return "Waiting for a worker of the spark queue…"
    if run.status == ModelRun.Status.RUNNING:
        note = " (no heartbeat for a minute: the worker may have died)" if model_run_is_stale(run) else ""
        return f"{run.phase or 'starting'} — {run.progress * 100:.0f} %{note}"
    if run.status == ModelRun.Status.FAILED:
        return f"Failed: {run.error}"
    metrics = run.metrics or {}
    parts = [f"Succeeded in {(run.timings or {}).get('total', 0):.0f} s"]
    if metrics.get("precision_at_10") is not None:
        parts.append(
            f"precision@10 {metrics['precision_at_10']:.3f} (popular {metrics.get('popularity_precision_at_10', 0):.3f})"
        )
    if metrics.get("rmse") is not None:
        parts.append(f"RMSE {metrics['rmse']:.3f}")
    return " · ".join(parts)


@never_cache
@require_GET
@staff_required
def train_progress(request, run_id: int):
    """``{"progress": 0..1, "message": str, "done": bool}`` for the progress bar (site.js polls it)."""
    run = get_object_or_404(ModelRun, pk=run_id)
    done = run.status in (ModelRun.Status.SUCCEEDED, ModelRun.Status.FAILED)
    return JsonResponse(
        {
            "progress": 1.0 if done else round(run.progress, 4),
            "message": progress_message(run),
            "done": done,
            "status": run.status,
            "phase": run.phase,
        }
    )

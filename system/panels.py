"""What the staff pages show, built from the other apps' selectors: the system page's panels
(data status, community raters, recommender training), the models page, and the progress
bars' JSON. Templates get plain data and blank forms from here; they run no query."""

import time

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from catalog.importing.datasets import DATASETS
from catalog.importing.indexes import indexes_deferred
from catalog.models import ImportRun
from catalog.selectors import import_run_list, table_row_estimates
from imdbrec.health import health_snapshot
from ratings.models import SyntheticRun
from ratings.selectors import rater_counts, rater_counts_forget, synthetic_run_current
from ratings.synthetic.config import DEFAULT_PERSONAS, GeneratorConfig
from recommender.communities.selectors import community_list, community_metrics
from recommender.models import ModelRun
from recommender.quality.charts import runs_chart_context
from recommender.quality.outcomes import quality_overall
from recommender.selectors import model_run_current, model_run_in_progress, model_run_is_stale, model_run_list
from system.forms import ImportStartForm, SyntheticGenerateForm, SyntheticRemoveForm, TrainingStartForm

# --- the system page --------------------------------------------------------------------------------


def system_page() -> dict:
    """The system page: service health, then one panel per app."""
    health = health_snapshot()
    return {
        "health": health,
        "health_age": round(time.time() - health["checked_at"], 1) if health["checked_at"] else None,
        "catalog": catalog_panel(),
        "synthetic": synthetic_panel(),
        "training": training_panel(),
    }


# --- data status (catalog) ----------------------------------------------------------------------------

IMPORT_RECENT_RUNS = 5
LOAD_ORDER = {dataset.name: position for position, dataset in enumerate(DATASETS)}
COUNT_COLUMNS = ("lines", "loaded", "rejected", "inserted", "updated", "removed")


def import_run_summary(run: ImportRun) -> dict:
    totals = dict.fromkeys(COUNT_COLUMNS, 0)
    files = []
    # jsonb does not keep key order: show the files in load order
    for name, result in sorted((run.counts or {}).items(), key=lambda item: LOAD_ORDER.get(item[0], 99)):
        for column in COUNT_COLUMNS:
            totals[column] += int(result.get(column) or 0)
        files.append({"name": name, **result})
    duration = (run.finished_at - run.started_at).total_seconds() if run.started_at and run.finished_at else None
    return {
        "run": run,
        "totals": totals,
        "files": files,
        "duration": duration,
        "active": run.status in (ImportRun.Status.QUEUED, ImportRun.Status.RUNNING),
    }


def catalog_panel() -> dict:
    """What is in the catalog tables, the last imports, and the import forms."""
    runs = [import_run_summary(run) for run in import_run_list()[:IMPORT_RECENT_RUNS]]
    return {
        "tables": table_row_estimates(),
        "runs": runs,
        "active_runs": [summary for summary in runs if summary["active"]],
        "latest": runs[0] if runs else None,
        "deferred_indexes": indexes_deferred(),
        "sample_dir": settings.IMDB_SAMPLE_DIR,
        "data_dir": settings.IMDB_DATA_DIR,
        "download_url": settings.IMDB_DOWNLOAD_BASE_URL,
        "form": ImportStartForm(),
    }


def _import_progress_message(run: ImportRun) -> str:
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


def import_progress(run: ImportRun) -> dict:
    """``{"progress": 0..1, "message", "done", "status", "rows_done"}`` for an import's progress bar."""
    done = run.status not in (ImportRun.Status.QUEUED, ImportRun.Status.RUNNING)
    if done:
        progress = 1.0
    elif run.rows_total:
        progress = min(1.0, run.rows_done / run.rows_total)
    else:
        progress = 0.0
    return {
        "progress": round(progress, 4),
        "message": _import_progress_message(run),
        "done": done,
        "status": run.status,
        "rows_done": run.rows_done,
    }


# --- community raters (ratings) ----------------------------------------------------------------------

PERSONA_LABELS = {persona.name: persona.label for persona in DEFAULT_PERSONAS}
KIND_LABELS = {"synthetic": "Synthetic", "movielens": "MovieLens"}


def synthetic_panel() -> dict:
    """Who the community raters are (per kind and persona), the last generate/remove job, the forms."""
    counts = rater_counts()
    rows = [
        {
            **row,
            "kind_label": KIND_LABELS[row["kind"]],
            "persona_label": PERSONA_LABELS.get(row["persona"], row["persona"]) or "—",
        }
        for row in counts["rows"]
    ]
    run = synthetic_run_current()
    return {
        "counts": {**counts, "rows": rows},
        "job": None if run is None else {"run": run, "active": run.is_unfinished, **synthetic_progress(run)},
        "form": SyntheticGenerateForm(),
        "remove_form": SyntheticRemoveForm(),
        "default_min_votes": GeneratorConfig().min_votes,
    }


def synthetic_progress(run: SyntheticRun) -> dict:
    """A synthetic-users job's state for the progress bar: progress 0..1, a message, done or not."""
    done = not run.is_unfinished
    if done:
        rater_counts_forget()
    result = run.result or {}
    if run.status == SyntheticRun.Status.SUCCEEDED and run.action == SyntheticRun.Action.GENERATE:
        message = (
            f"Done: {result.get('users_created', 0):,} users and {result.get('ratings_created', 0):,} ratings "
            f"created ({result.get('users_existing', 0):,} already there) in {result.get('seconds', 0.0):.1f} s."
        )
    elif run.status == SyntheticRun.Status.SUCCEEDED:
        message = f"Done: {result.get('users', 0):,} users and {result.get('ratings', 0):,} ratings removed."
    elif done:
        message = f"Failed: {run.error}"
    elif run.status == SyntheticRun.Status.RUNNING:
        message = run.progress_message or "Starting…"
    else:
        message = "Waiting for a worker…"
    progress = 1.0 if done else run.progress
    return {"progress": round(min(max(progress, 0.0), 1.0), 4), "message": message, "done": done, "status": run.status}


# --- recommender training ----------------------------------------------------------------------------

TRAINING_RECENT_RUNS = 10
TIMING_COLUMNS = (
    ("export", "export"),
    ("fit", "fit"),
    ("evaluate", "evaluation"),
    ("write_back", "write-back"),
    ("total", "total"),
)


def model_run_summary(run: ModelRun) -> dict:
    timings = run.timings or {}
    metrics = run.metrics or {}
    duration = None
    if run.started_at and run.finished_at:
        duration = (run.finished_at - run.started_at).total_seconds()
    return {
        "run": run,
        "active": run.status in ("queued", "running"),
        "stale": model_run_is_stale(run),
        "duration": duration,
        "timings": [(label, timings.get(key)) for key, label in TIMING_COLUMNS],
        "metrics": metrics,
        "precision_lift": _precision_lift(metrics),
        "candidates": len(run.candidates or []),
        "requested": {key: value for key, value in ((run.params or {}).get("requested") or {}).items()},
    }


def _precision_lift(metrics: dict) -> float | None:
    """How many times the most popular list's precision@10 the model's is, on the same holdout."""
    model, popular = metrics.get("precision_at_10"), metrics.get("popularity_precision_at_10")
    if model is None or not popular:
        return None
    return model / popular


def training_panel() -> dict:
    """The run being served, the trainings in progress, recent runs, and the "Train now" form."""
    runs = [model_run_summary(run) for run in model_run_list()[:TRAINING_RECENT_RUNS]]
    current = model_run_current()
    return {
        "runs": runs,
        "current": model_run_summary(current) if current else None,
        "in_progress": [model_run_summary(run) for run in model_run_in_progress()],
        "form": TrainingStartForm(),
    }


def _training_progress_message(run: ModelRun) -> str:
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


def training_progress(run: ModelRun) -> dict:
    """``{"progress": 0..1, "message", "done", "status", "phase"}`` for a training's progress bar."""
    done = run.status in (ModelRun.Status.SUCCEEDED, ModelRun.Status.FAILED)
    return {
        "progress": 1.0 if done else round(run.progress, 4),
        "message": _training_progress_message(run),
        "done": done,
        "status": run.status,
        "phase": run.phase,
    }


# --- the models page ---------------------------------------------------------------------------------


def _run_admin_url(run: ModelRun | None) -> str | None:
    if run is None:
        return None
    try:
        return reverse("admin:recommender_modelrun_change", args=[run.pk])
    except NoReverseMatch:  # the admin does not register runs: this page shows them
        return reverse("system:models")


def run_quality_row(run: ModelRun) -> dict:
    """One run's holdout figures for the models page: accuracy, beyond accuracy (recommender.quality
    .beyond, computed by the training job on its holdout) and whether its confidence means something."""
    metrics = run.metrics or {}
    buckets = {bucket.get("confidence"): bucket for bucket in metrics.get("confidence_buckets") or []}
    return {
        "run": run,
        "metrics": metrics,
        "buckets": [buckets.get(name, {}) for name in ("low", "medium", "high")],
        "confidence_rises": metrics.get("confidence_rises"),
        "has_beyond": metrics.get("catalog_coverage") is not None,
        # a top 10 reaches a few per cent of the titles: whole per cents would hide the differences
        "coverage_percent": (
            f"{metrics['catalog_coverage'] * 100:.1f}%" if metrics.get("catalog_coverage") is not None else None
        ),
    }


def models_page() -> dict:
    """Every run's metrics over time, the communities' agreement with personas, live quality."""
    runs = list(model_run_list().order_by("created_at"))
    run = model_run_current()
    return {
        "chart": runs_chart_context(runs=runs),
        "runs": list(reversed(runs)),
        "run": run,
        "run_admin_url": _run_admin_url(run),
        "communities": community_list(run=run),
        "community_metrics": community_metrics(run=run),
        "quality_by_run": quality_overall(),
        "run_quality": [run_quality_row(run) for run in reversed(runs) if run.metrics],
    }

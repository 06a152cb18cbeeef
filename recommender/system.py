"""The recommender's panel on the staff system page: the run being served, the training in
progress (live progress bar), recent runs with their phases, timings and holdout metrics, and a
"Train now" button."""

from recommender.selectors import model_run_current, model_run_in_progress, model_run_is_stale, model_run_list
from recommender.spark.params import DEFAULT_PARAMS

RECENT_RUNS = 10
TIMING_COLUMNS = (
    ("export", "export"),
    ("fit", "fit"),
    ("evaluate", "evaluation"),
    ("write_back", "write-back"),
    ("total", "total"),
)


def run_summary(run) -> dict:
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
        "candidates": len(run.candidates or []),
        "requested": {key: value for key, value in ((run.params or {}).get("requested") or {}).items()},
    }


def panel(request) -> dict:
    runs = [run_summary(run) for run in model_run_list()[:RECENT_RUNS]]
    current = model_run_current()
    return {
        "template": "system/_training.html",
        "runs": runs,
        "current": run_summary(current) if current else None,
        "in_progress": [run_summary(run) for run in model_run_in_progress()],
        "defaults": {key: DEFAULT_PARAMS[key] for key in ("rank", "reg", "iterations", "alpha")},
    }

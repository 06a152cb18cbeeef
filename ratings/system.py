"""The ratings panel on the staff system page: who the community raters are (synthetic users by
persona, MovieLens users), how many ratings they gave, and the generator's controls."""

from django.core.cache import cache
from django.db import connection

from accounts.models import User
from ratings.synthetic import DEFAULT_PERSONAS, GeneratorConfig

COUNTS_CACHE_KEY = "ratings:system:rater-counts"
# Counting millions of ratings takes a second; the system page may show numbers this old.
COUNTS_CACHE_SECONDS = 30
JOB_CACHE_KEY = "ratings:system:synthetic-job"
JOB_CACHE_SECONDS = 24 * 60 * 60

PERSONA_LABELS = {persona.name: persona.label for persona in DEFAULT_PERSONAS}
KIND_LABELS = {User.Kind.SYNTHETIC.value: "Synthetic", User.Kind.MOVIELENS.value: "MovieLens"}


def rater_counts() -> dict:
    """Users and ratings of synthetic and MovieLens users, per kind and persona, with totals."""
    counts = cache.get(COUNTS_CACHE_KEY)
    if counts is not None:
        return counts
    kinds = [User.Kind.SYNTHETIC.value, User.Kind.MOVIELENS.value]
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT u.kind, u.persona, count(*), coalesce(sum(r.n), 0)
               FROM accounts_user u
               LEFT JOIN (SELECT user_id, count(*) AS n FROM ratings_rating GROUP BY user_id) r ON r.user_id = u.id
               WHERE u.kind = ANY(%s) GROUP BY u.kind, u.persona ORDER BY u.kind DESC, u.persona""",
            [kinds],
        )
        rows = [
            {
                "kind": kind,
                "kind_label": KIND_LABELS[kind],
                "persona": persona,
                "persona_label": PERSONA_LABELS.get(persona, persona) or "—",
                "users": users,
                "ratings": int(ratings),
            }
            for kind, persona, users, ratings in cursor.fetchall()
        ]
    totals = {
        kind: {
            "users": sum(r["users"] for r in rows if r["kind"] == kind),
            "ratings": sum(r["ratings"] for r in rows if r["kind"] == kind),
        }
        for kind in kinds
    }
    counts = {"rows": rows, "synthetic": totals[kinds[0]], "movielens": totals[kinds[1]]}
    cache.set(COUNTS_CACHE_KEY, counts, COUNTS_CACHE_SECONDS)
    return counts


def rater_counts_forget() -> None:
    cache.delete(COUNTS_CACHE_KEY)


def synthetic_job_progress(task_id: str) -> dict:
    """A generate/remove task's state for the progress bar: progress 0..1, a message, done or not."""
    from celery.result import AsyncResult

    from imdbrec.queueing import BackgroundUnavailable, broker_ping

    try:
        broker_ping()  # the result backend would otherwise retry for 20 s before failing
    except BackgroundUnavailable as error:
        return {"progress": 0.0, "message": str(error), "done": False, "state": "UNKNOWN"}
    result = AsyncResult(task_id)
    state, info = result.state, result.info
    progress, done = (1.0, True) if state in ("SUCCESS", "FAILURE", "REVOKED") else (0.0, False)
    if done:
        rater_counts_forget()
    if state == "PROGRESS" and isinstance(info, dict):
        progress, message = info.get("done", 0) / (info.get("total") or 1), info.get("message", "")
    elif state == "SUCCESS" and isinstance(info, dict) and "skipped" in info:
        message = f"Not run: {info['skipped']}."
    elif state == "SUCCESS" and isinstance(info, dict) and "users_created" in info:
        message = (
            f"Done: {info['users_created']:,} users and {info['ratings_created']:,} ratings created "
            f"({info['users_existing']:,} already there) in {info['seconds']:.1f} s."
        )
    elif state == "SUCCESS" and isinstance(info, dict):
        message = f"Done: {info.get('users', 0):,} users and {info.get('ratings', 0):,} ratings removed."
    elif state == "SUCCESS":
        message = "Done."
    elif done:
        message = f"Failed: {info}"
    elif state == "STARTED":
        message = "Starting…"
    else:
        message = "Waiting for a worker…"
    return {"progress": round(min(max(progress, 0.0), 1.0), 4), "message": message, "done": done, "state": state}


def synthetic_job_current() -> dict | None:
    """The last generate/remove job started from the page, with its live state, or None."""
    job = cache.get(JOB_CACHE_KEY)
    if not job:
        return None
    progress = synthetic_job_progress(job["task_id"])
    return {**job, **progress, "active": not progress["done"] and progress["state"] != "UNKNOWN"}


def synthetic_job_remember(*, task_id: str, action: str, **details) -> None:
    cache.set(JOB_CACHE_KEY, {"task_id": task_id, "action": action, **details}, JOB_CACHE_SECONDS)


def panel(request) -> dict:
    from ratings.system_views import SyntheticGenerateForm

    return {
        "template": "system/_synthetic.html",
        "counts": rater_counts(),
        "job": synthetic_job_current(),
        "form": SyntheticGenerateForm(),
        "default_min_votes": GeneratorConfig().min_votes,
    }

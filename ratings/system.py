"""The ratings panel on the staff system page: who the community raters are (synthetic users by
persona, MovieLens users), how many ratings they gave, and the generator's controls."""

from django.core.cache import cache
from django.db import connection

from accounts.models import User
from ratings.models import SyntheticRun
from ratings.selectors import synthetic_run_current
from ratings.synthetic import DEFAULT_PERSONAS, GeneratorConfig

COUNTS_CACHE_KEY = "ratings:system:rater-counts"
# Counting millions of ratings takes a second; the system page may show numbers this old.
COUNTS_CACHE_SECONDS = 30

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


def synthetic_run_status(run: SyntheticRun) -> dict:
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


def _job(run: SyntheticRun | None) -> dict | None:
    return None if run is None else {"run": run, "active": run.is_unfinished, **synthetic_run_status(run)}


def panel(request) -> dict:
    from ratings.system_views import SyntheticGenerateForm

    return {
        "template": "system/_synthetic.html",
        "counts": rater_counts(),
        "job": _job(synthetic_run_current()),
        "form": SyntheticGenerateForm(),
        "default_min_votes": GeneratorConfig().min_votes,
    }

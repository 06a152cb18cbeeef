"""Run every reliability and security check and write their results into docs/reliability.md.

    python -m tools.reliability [--skip-load] [--skip-tests] [--no-readme]

1. ``pytest tests/reliability`` with the heavy tests enabled (``IMDBREC_RELIABILITY=1``): faults
   injected into private Postgres/Redis servers, gunicorn and Celery workers; hostile input;
   authorization; account security. Each test's outcome, duration and observations are kept.
2. ``bench/load_ratings.py`` and ``bench/load_background.py``: load held, nothing lost.
3. ``python -m tools.audit``: known vulnerabilities in requirements.lock.
4. The section of docs/reliability.md between ``<!-- reliability:start -->`` and
   ``<!-- reliability:end -->`` is rewritten with the checks and their last measured results (the
   markers are appended to the file, or the file created, if missing). Nothing else in it is touched.

Exit status is non-zero when a test failed or a load script found a lost or duplicated rating.
An incomplete dependency audit (no network) is reported, not treated as a pass or a failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import xml.etree.ElementTree as ET  # noqa: S405 - parses the junit file pytest just wrote
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
README = ROOT / "docs" / "reliability.md"  # the README links it
START, END = "<!-- reliability:start -->", "<!-- reliability:end -->"

# test function -> (section, what it shows). Tests not listed here are reported under their name.
CHECKS: dict[str, tuple[str, str]] = {
    # faults
    "test_worker_killed_mid_import_the_message_is_redelivered_and_the_run_succeeds": (
        "faults",
        "Worker pool process SIGKILLed mid-import: the message is redelivered (acks_late + "
        "reject_on_worker_lost) and the run is retried to success; the title page served throughout",
    ),
    "test_whole_worker_killed_mid_import_no_half_file_and_a_second_attempt_succeeds": (
        "faults",
        "Whole worker SIGKILLed mid-import: every table holds its old rows or the whole new file, never part "
        "of one; the orphaned run is recognised (its lock died with it) and marked failed; a second "
        "attempt succeeds",
    ),
    "test_worker_killed_mid_training_and_two_trainings_at_once": (
        "faults",
        "Worker pool process SIGKILLed mid-training (Spark running): the Spark job dies with it, the "
        "previous model keeps serving, no row of the killed run exists, the message is redelivered and "
        "the run trains to success and switches; a second training request meanwhile is refused",
    ),
    "test_whole_worker_killed_mid_training_old_model_serves_and_the_next_attempt_succeeds": (
        "faults",
        "Whole worker SIGKILLed mid-training: the old model serves, the orphan is marked failed, the next "
        "attempt succeeds",
    ),
    "test_two_imports_at_once_one_runs_the_other_is_refused": (
        "faults",
        "Two imports requested at the same moment: one is queued and runs, the other is refused with a "
        "message naming the running import",
    ),
    "test_pages_fail_cleanly_and_recover_when_postgres_restarts": (
        "faults",
        "Postgres stopped under a real gunicorn: every page answers the 500 page (no traceback) within "
        "seconds, /health/ says 503; restarted: the same gunicorn recovers by itself, sessions survive; "
        "ratings acknowledged before are there, the refused one is not",
    ),
    "test_requests_during_a_restart_under_load_fail_cleanly_then_all_succeed": (
        "faults",
        "Postgres restarted under 6 concurrent visitors: every answer is a page or the clean 500 page, "
        "all 200 again two seconds after",
    ),
    "test_a_task_retries_while_postgres_is_down": (
        "faults",
        "Import task started while Postgres is down: it retries with backoff and succeeds once the database is back",
    ),
    "test_postgres_restarted_in_the_middle_of_an_import": (
        "faults",
        "Postgres restarted in the middle of an import: the task retries and the run succeeds",
    ),
    "test_redis_killed_and_restarted_under_a_real_server": (
        "faults",
        "Redis killed under a real gunicorn: pages keep working, ratings are saved, every action that "
        "queues work (import, synthetic users, training) answers at once 'the background system is "
        "unavailable' and records nothing; Redis restarted: the import queued before the outage runs, new "
        "work is accepted",
    ),
    "test_the_cache_degrades_to_a_miss": (
        "faults",
        "The Redis cache answers 'miss' within a second when Redis is down",
    ),
    "test_pages_work_without_redis": ("faults", "Every page and a rating work with Redis unreachable"),
    "test_enqueue_fails_fast_with_a_clear_message": (
        "faults",
        "Queueing with Redis down fails in under a second with a message for the user (Celery alone hangs "
        "20 s, then 500)",
    ),
    "test_staff_actions_say_the_background_system_is_unavailable": (
        "faults",
        "Staff actions with Redis down: a clear message, no import left 'queued' forever",
    ),
    "test_database_disk_full_during_an_import": (
        "faults",
        "The database's disk fills up mid-COPY (a 2 MB tmpfs tablespace): the file fails with 'No space "
        "left on device', its table is exactly as before, the other file loads, the system page shows it",
    ),
    "test_download_disk_full_during_an_import": (
        "faults",
        "The download directory fills up (a 512 kB tmpfs): the run fails naming the file and directory; "
        "no partial file under the final name; the catalog is untouched",
    ),
    "test_an_unreadable_file_is_reported_and_the_old_data_stays": (
        "faults",
        "Unreadable input files (truncated gzip, not gzip, binary, a directory, a dangling link): the file "
        "is reported by name with the reason, the old rows stay, the good file loads",
    ),
    "test_exclusive_admits_one_holder_at_a_time": ("faults", "The one-at-a-time lock admits one holder"),
    "test_twenty_hostile_clients_on_one_page_do_not_stall_the_site": (
        "hostile",
        "20 hostile clients on one page, a test for each of /health/, /search/, the member CSV import, the CSV "
        "export, /me/stats/ and /recommendations/?junk=N: a visitor's /titles/ p95 within 3× its quiet value "
        "(median of the rounds), no 500, the cache's Redis under its memory limit, every acknowledged rating "
        "and import kept (table above)",
    ),
    "test_the_lock_dies_with_a_killed_process": (
        "faults",
        "The lock held by a process is released when that process is SIGKILLed",
    ),
    "test_database_errors_are_classified": (
        "faults",
        "Database errors are told apart: a refused or terminated connection is an outage (retry), a "
        "constraint violation is not",
    ),
    "test_staff_forms_refuse_hostile_values_with_a_message": (
        "hostile",
        "Staff forms (train, synthetic users, import) with huge, negative, NaN, markup, SQL and 10,000-"
        "character values: a 'not started' message, nothing queued (a 10,000-character directory was a 500)",
    ),
    "test_account_forms_take_oversized_and_odd_input": (
        "hostile",
        "Login, password reset, sign-up, password change and onboarding with 10,000-character names, "
        "100,000-character passwords, markup and control characters: form errors (a 10,000-character "
        "login name was a 500); header injection through a redirect target refused",
    ),
    "test_import_start_refusals_are_messages_not_errors": (
        "hostile",
        "Import form with bad directories, unknown files, unknown sources: messages, nothing started",
    ),
    # hostile input
    "test_stored_scripts_are_escaped_on_every_page_that_shows_them": (
        "hostile",
        "A title, a person and a user name that are `<script>`/`onerror` payloads: escaped on 12 pages "
        "(the escaped text is asserted present, the raw markup absent)",
    ),
    "test_the_ajax_star_fragment_escapes_the_title": ("hostile", "The AJAX star fragment escapes the title"),
    "test_signup_refuses_markup_in_user_names": ("hostile", "Sign-up refuses markup in user names"),
    "test_reflected_input_is_escaped": ("hostile", "Search terms, filters and `next` are reflected escaped"),
    "test_uploaded_csv_with_scripts_is_reported_escaped": (
        "hostile",
        "An uploaded CSV with scripts in its cells: reported escaped; a bad file changes nothing",
    ),
    "test_injection_strings_in_every_parameter_change_nothing": (
        "hostile",
        "SQL and template injection strings in every GET parameter and form field of 13 endpoints: 200, "
        "400 or 404, no database error text, no secret, no row changed",
    ),
    "test_malformed_scores_are_refused_with_a_message_and_save_nothing": (
        "hostile",
        "Malformed scores (0, 6, -1, 3.5, 1e3, 40 digits, full-width digits, …): 400 'Nothing was saved'",
    ),
    "test_wrong_content_types_get_a_clear_refusal": (
        "hostile",
        "JSON, XML, text and broken multipart bodies to the rating endpoint: 400, nothing saved",
    ),
    "test_nul_characters_are_refused_before_any_query": (
        "hostile",
        "NUL characters in paths, query strings and forms: 400 with a message (was a 500)",
    ),
    "test_oversized_input": (
        "hostile",
        "100,000-character search, a body over the size limit (413 before reading it), a chunked body "
        "(411 before reading it), 5,000 form fields (400), a 300-character user name",
    ),
    "test_uploads_over_the_limit_and_of_the_wrong_kind_are_refused": (
        "hostile",
        "Uploads over the limit, a PNG named .csv, an empty file, no file: 400 with a message",
    ),
    "test_open_redirects_are_refused": ("hostile", "Open redirects through `next` are refused"),
    "test_watchlist_toggle_with_unknown_action_changes_nothing": ("hostile", "Unknown actions change nothing"),
    "test_csv_export_of_hostile_titles_is_plain_data": ("hostile", "CSV export carries hostile titles as plain data"),
    # authorization
    "test_every_post_without_a_csrf_token_is_refused": (
        "authorization",
        "Every URL of the URLconf (enumerated): POST without a CSRF token is 403",
    ),
    "test_no_get_changes_anything_and_post_only_endpoints_refuse_get": (
        "authorization",
        "Every URL: GET writes no row (measured in Postgres' own counters) and never answers 5xx; "
        "state-changing endpoints answer GET with 405",
    ),
    "test_the_write_detector_sees_a_write_made_through_a_view": (
        "authorization",
        "(the write detector used above does see writes)",
    ),
    "test_the_urlconf_was_enumerated": ("authorization", "(the URLconf enumeration finds every route)"),
    "test_staff_pages_refuse_members_and_send_visitors_to_log_in": (
        "authorization",
        "Every /system/ endpoint: 403 for members, login for visitors, GET and POST",
    ),
    "test_admin_is_staff_only": ("authorization", "The admin sends members to its login"),
    "test_personal_pages_need_a_login": ("authorization", "Every personal page needs a login"),
    "test_ids_in_the_query_string_do_not_show_another_users_lists": (
        "authorization",
        "User ids/names in query strings never show another user's ratings, lists, stats, profile or CSV",
    ),
    "test_ids_in_forms_do_not_change_another_users_data": (
        "authorization",
        "Forged ids, user names and staff flags in forms change only one's own data; deleting an "
        "account needs its own password",
    ),
    "test_password_change_needs_the_old_password": ("authorization", "Password change needs the old password"),
    "test_recommendations_are_the_signed_in_users_whatever_the_ids": (
        "authorization",
        "Recommendations are the signed-in user's, whatever ids the URL carries",
    ),
    # account security
    "test_signup_enforces_the_password_validators": (
        "accounts",
        "Sign-up enforces length, common-password, numeric and similarity validators",
    ),
    "test_repeated_failed_logins_lock_the_account_from_that_address": (
        "accounts",
        "Five failed logins lock the account from that address (429), even for the right password; "
        "other addresses unaffected",
    ),
    "test_login_rotates_the_session_and_logout_is_post_only": (
        "accounts",
        "Login rotates the session key; logout is POST only",
    ),
    "test_session_cookie_is_http_only_and_same_site": ("accounts", "Session cookie HttpOnly, SameSite=Lax"),
    "test_production_settings_are_secure": (
        "accounts",
        "Production settings: DEBUG off, secure session and CSRF cookies, HSTS 1 year with subdomains, "
        "SSL redirect, nosniff, frame DENY",
    ),
    "test_check_deploy_is_clean": ("accounts", "`manage.py check --deploy` with production settings: no issues"),
    "test_no_secrets_are_tracked_by_git": (
        "accounts",
        "No secrets in tracked files (keys, tokens, literal passwords, credentials in URLs)",
    ),
    "test_the_secret_scanner_finds_what_it_looks_for": ("accounts", "(the secret scanner does find specimens)"),
}
SECTIONS = {
    "faults": "Faults survived",
    "hostile": "Hostile input tried",
    "authorization": "Nobody where they don't belong",
    "accounts": "Account security",
    "other": "Other checks",
}


# The hostile-load test forks its attackers' process: it runs in a pytest process of its own, as
# forking a process that earlier tests left with threads (servers, visitors) can hang the child.
ISOLATED = "tests/reliability/test_hostile_load.py"


def run_tests(junit: Path) -> dict:
    env = {**os.environ, "IMDBREC_RELIABILITY": "1", "DJANGO_SETTINGS_MODULE": "imdbrec.settings.test"}
    tests: dict[str, dict] = {}
    codes = []
    for selection, part in ((["tests/reliability", f"--ignore={ISOLATED}"], junit), ([ISOLATED], _isolated(junit))):
        codes.append(_pytest(selection, part, env))
        _junit_read(part, tests)
    return {"exit": max(codes), "tests": tests}


def _isolated(junit: Path) -> Path:
    return junit.with_name(junit.stem + "-hostile" + junit.suffix)


def _pytest(selection: list[str], junit: Path, env: dict) -> int:
    command = [
        sys.executable,
        "-m",
        "pytest",
        *selection,
        "-p",
        "no:cacheprovider",
        "-q",
        "-rs",
        f"--junitxml={junit}",
        "-o",
        "junit_logging=system-out",
        "-o",
        "junit_log_passing_tests=true",
    ]
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def _junit_read(junit: Path, tests: dict[str, dict]) -> None:
    for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314
        name = case.get("name", "")
        base = name.split("[")[0]
        outcome = "passed"
        detail = ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, detail = "failed", (child.get("message") or "")[:300]
            elif child.tag == "skipped":
                outcome, detail = "skipped", (child.get("message") or "")[:200]
        output = "".join(child.text or "" for child in case if child.tag == "system-out")
        observations = [
            line.strip()
            for line in output.splitlines()
            if line.strip()
            and not re.match(r"^\d{4}-\d\d-\d\d |^(INFO|WARNING|ERROR|DEBUG) ", line.strip())
            and "----" not in line
        ]
        entry = tests.setdefault(
            base,
            {"cases": 0, "passed": 0, "failed": 0, "skipped": 0, "seconds": 0.0, "details": [], "observations": []},
        )
        entry["cases"] += 1
        entry[outcome] += 1
        entry["seconds"] += float(case.get("time", 0))
        if detail:
            entry["details"].append(detail)
        entry["observations"] += observations[-3:]


def run_script(args: list[str], json_path: Path) -> dict:
    print("$", " ".join(args), flush=True)
    result = subprocess.run([sys.executable, *args, "--json", str(json_path)], cwd=ROOT)
    data = json.loads(json_path.read_text()) if json_path.exists() and result.returncode in (0, 1, 2) else {}
    return {"exit": result.returncode, **data}


def _statuses(statuses: dict) -> str:
    return ", ".join(f"{count:,} × {'no answer' if str(code) == '0' else code}" for code, count in statuses.items())


def _status(entry: dict) -> str:
    if entry["failed"]:
        return "**FAILED**"
    if entry["passed"] and entry["skipped"]:
        return f"passed ({entry['passed']} cases; {entry['skipped']} skipped)"
    if entry["skipped"] and not entry["passed"]:
        return f"skipped: {entry['details'][0] if entry['details'] else ''}"
    return "passed" if entry["cases"] == 1 else f"passed ({entry['cases']} cases)"


def render(results: dict) -> str:
    lines = [START, "## Reliability and security", ""]
    machine = f"{os.cpu_count()} cores, {platform.system()} {platform.release().split('-')[0]}"
    lines += [
        f"Last run: {results['when']} on {machine}, commit `{results['commit']}`, by `make reliability` "
        "(`python -m tools.reliability`). The fault tests start their **own** Postgres cluster, redis-server, "
        "gunicorn and Celery workers and stop, kill (SIGKILL) and restart them; the shared services are never "
        "touched. The light checks (hostile input, authorization, CSRF, account security, Redis unreachable, "
        "unreadable files) also run in `make test`; the heavy ones are marked `reliability`.",
        "",
    ]
    load = results.get("load_ratings") or {}
    if load.get("latency"):
        latency = load["latency"]
        lines += [
            "### Load held",
            "",
            "| check | result |",
            "|---|---|",
            f"| {load['clients']} concurrent clients rating titles (`bench/load_ratings.py`, {load['requests']:,} "
            f"requests, gunicorn {load['server']['gunicorn_workers']}×{load['server']['threads']}) | "
            f"{load['throughput_per_second']} acknowledged ratings/s; p50 {latency['p50_ms']} ms, p99 "
            f"{latency['p99_ms']} ms; answers: {_statuses(load['statuses'])} |",
            f"| nothing lost | {load['acknowledged_pairs']:,} acknowledged (user, title) pairs → {load['rows']:,} "
            f"rows: missing {load['missing']}, duplicated {load['duplicated']}, wrong score {load['wrong_score']}"
            f", unacknowledged extra {load['unexpected']} — **{'OK' if load['ok'] else 'FAILED'}** |",
        ]
    background = results.get("load_background") or {}
    if background.get("quiet"):
        quiet, busy = background["quiet"], background["busy"]
        jobs = background["background"]
        lines += [
            f"| recommendations page, {background['clients']} clients (`bench/load_background.py`) | quiet: "
            f"p50 {quiet['recommendations']['p50_ms']} ms, p99 {quiet['recommendations']['p99_ms']} ms — with "
            f"training + import running: p50 {busy['recommendations']['p50_ms']} ms, p99 "
            f"{busy['recommendations']['p99_ms']} ms |",
            f"| search, same load | quiet: p50 {quiet['search']['p50_ms']} ms, p99 {quiet['search']['p99_ms']} ms"
            f" — busy: p50 {busy['search']['p50_ms']} ms, p99 {busy['search']['p99_ms']} ms |",
            f"| background work during the busy phase | {busy['requests_while_both_jobs_ran']} of "
            f"{busy['requests']} requests while both ran; {jobs['training'].get('runs', 1)} training(s), the "
            f"first {jobs['training']['status']} in {jobs['training']['seconds']} s; "
            f"{jobs['import'].get('runs', 1)} import(s) of {jobs['import']['lines']:,} lines, the first "
            f"{jobs['import']['status']} in {jobs['import']['seconds']} s; errors: quiet {len(quiet['errors'])}, "
            f"busy {len(busy['errors'])} |",
        ]
    hostile = results.get("hostile_load") or {}
    if hostile.get("phases"):
        lines += [
            "",
            "### Hostile clients",
            "",
            f"`tests/reliability/test_hostile_load.py`: {hostile['clients']} hostile clients (one address, a member "
            f"account each) for {hostile['phase_seconds']} s on each page in turn, while a visitor (another address) "
            "loads /titles/ one request after another and a member rates titles (and, during the import attack, "
            f"imports a 2,700-row file). gunicorn {hostile.get('gunicorn', '')}; cache Redis maxmemory "
            f"{hostile['cache_limit_mb']} MB, allkeys-lru. Each attack runs {hostile.get('rounds', 1)} rounds; a "
            "round empties the cache (a fresh attacker: no rate-limit counter, no cached page), measures the "
            "visitor's quiet /titles/ p95, then attacks. The ratio is the p95 under attack ÷ that round's quiet "
            "p95; the target is a median ratio of at most 3. Load average: the machine's 1-minute load before "
            "the quiet requests / during the attack (2 cores, shared with other work).",
            "",
            "| attack | p95 ÷ quiet: median (min–max) | per round: quiet p95 → p95 under attack (load) "
            "| hostile answers (all rounds) | cache / broker Redis |",
            "|---|---|---|---|---|",
        ]
        for name, phase in hostile["phases"].items():
            rounds = phase["rounds"]
            per_round = "; ".join(
                f"{r['quiet_p95_ms']:.0f} → {r['visitor_p95_ms']:.0f} ms "
                f"({r['load_average'][0]:.0f}/{r['load_average'][1]:.0f})"
                for r in rounds
            )
            statuses: dict[str, int] = {}
            for r in rounds:
                for code, count in r["hostile_statuses"].items():
                    statuses[code] = statuses.get(code, 0) + count
            lines.append(
                f"| {name} | **{phase['ratio_median']:.2f}×** ({phase['ratio_min']:.2f}–{phase['ratio_max']:.2f}) | "
                f"{per_round} | {sum(statuses.values()):,}: {_statuses(dict(sorted(statuses.items())))} | "
                f"{max(r['cache_used_mb'] for r in rounds)} / {max(r['broker_used_mb'] for r in rounds)} MB |"
            )
        lines += [
            "",
            f"Nothing lost: {hostile['ratings_acknowledged']} ratings acknowledged during the attacks, "
            f"{hostile['ratings_lost']} missing; the member's imports: {', '.join(hostile['imports'])} "
            "(status:matched:unmatched).",
            "",
        ]
    if load or background:
        lines += [
            "",
            "The load runs on the same 2-core machine as its clients (and, here, as other work): compare the "
            "two phases of one run, and expect run-to-run differences of 2× in the tails.",
            "",
        ]
    tests = results.get("tests", {}).get("tests", {})
    by_section: dict[str, list[tuple[str, str, dict]]] = {key: [] for key in SECTIONS}
    for name, entry in tests.items():
        section, text = CHECKS.get(name, ("other", name.replace("test_", "").replace("_", " ")))
        by_section[section].append((name, text, entry))
    for key, title in SECTIONS.items():
        if not by_section[key]:
            continue
        lines += [f"### {title}", "", "| check | result | s |", "|---|---|---|"]
        for _name, text, entry in by_section[key]:
            observed = "; ".join(dict.fromkeys(entry["observations"]))
            observed = (observed[:400] + "…" if len(observed) > 400 else observed).replace("|", "\\|")
            result = _status(entry) + (f" — {observed}" if observed else "")
            lines.append(f"| {text} | {result} | {entry['seconds']:.0f} |")
        lines.append("")
    audit = results.get("audit") or {}
    if audit:
        lines += [
            "### Dependencies",
            "",
            f"`make audit` (`python -m tools.audit`, pip-audit on requirements.lock, PyPI then OSV): "
            f"**{audit.get('status', 'not run')}** — {audit.get('summary', '')}",
            "",
        ]
        if audit.get("status") == "incomplete":
            lines += [
                "This machine cannot reach the vulnerability services (PyPI's JSON API and api.osv.dev), so no "
                "package was audited here: this is **not** a clean bill. Run `make audit` on a machine with "
                "network access; any vulnerability found must be fixed or explained in `tools/audit.py` "
                "(`EXPLAINED`).",
                "",
            ]
    counts = {
        "passed": sum(entry["passed"] for entry in tests.values()),
        "failed": sum(entry["failed"] for entry in tests.values()),
        "skipped": sum(entry["skipped"] for entry in tests.values()),
    }
    lines += [
        f"Tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped.",
        "",
        "What the site does about it: `imdbrec/cache.py` (the cache degrades to a miss when Redis is down), "
        "`imdbrec/queueing.py` (queueing fails fast with a message; tasks retry through a database outage; one "
        "import or training at a time, with a lock that dies with its process), `imdbrec/middleware.py` "
        "(NUL characters: 400; oversized bodies: 413), acks_late + reject_on_worker_lost, each import file and "
        "each model switch in one transaction. Redis should run with `appendonly yes` and `appendfsync always` so "
        "queued work survives its crash or restart.",
        END,
    ]
    return "\n".join(lines) + "\n"


def readme_write(section: str) -> None:
    text = README.read_text() if README.exists() else "# Reliability\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + section.rstrip("\n") + after
    else:
        text = text.rstrip("\n") + "\n\n" + section
    README.parent.mkdir(parents=True, exist_ok=True)
    README.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the reliability checks and update docs/reliability.md.")
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--no-readme", action="store_true", help="print the section instead of writing it")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results_file = OUT / "reliability.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    results["when"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    results["commit"] = (
        subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        or "?"
    )
    if not args.skip_tests:
        hostile_file = OUT / "hostile_load.json"  # written by tests/reliability/test_hostile_load.py
        hostile_file.unlink(missing_ok=True)  # never report an older run's figures
        results["tests"] = run_tests(OUT / "reliability-junit.xml")
        results.pop("hostile_load", None)
    hostile_file = OUT / "hostile_load.json"
    if hostile_file.exists():
        results["hostile_load"] = json.loads(hostile_file.read_text())
    if not args.skip_load:
        results["load_ratings"] = run_script(["bench/load_ratings.py"], OUT / "load_ratings.json")
        results["load_background"] = run_script(["bench/load_background.py"], OUT / "load_background.json")
    from tools.audit import audit, summary_line

    report = audit()
    results["audit"] = {"status": report["status"], "summary": summary_line(report)}
    results_file.write_text(json.dumps(results, indent=2) + "\n")
    section = render(results)
    if args.no_readme:
        print(section)
    else:
        readme_write(section)
        print(f"{README.relative_to(ROOT)}: reliability section updated ({results_file.relative_to(ROOT)})")
    failed = (
        results.get("tests", {}).get("exit", 0) != 0
        or (results.get("load_ratings") or {}).get("ok") is False
        or bool((results.get("load_background") or {}).get("busy", {}).get("errors"))
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

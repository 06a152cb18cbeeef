"""Generate synthetic users with ratings drawn from IMDb's aggregate ratings and taste personas.

Reproducible and idempotent: user i of seed S is "S:i", so running the same command twice creates
nothing the second time, and a larger --users only adds the missing users. The star rules, the
personas and the other knobs are documented in ratings/synthetic/; --config overrides them from a
JSON file (--show-config prints the defaults in that format).

    python manage.py generate_synthetic_users --users 3000 --seed 42
    python manage.py generate_synthetic_users --users 100000 --seed 1 --min-votes 50

The generation runs in this process as a synthetic-users job (``ratings.synthetic_runs``), so it
shows on the staff system page, and is refused (exit status 1) while another job runs.
"""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ratings.models import SyntheticRun
from ratings.synthetic import GeneratorConfig
from ratings.synthetic_runs import synthetic_run_execute, synthetic_run_generate_create


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, help="How many synthetic users (indices 0 .. N-1 of the seed).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument(
            "--min-votes",
            type=int,
            default=None,
            help=f"Only titles with at least this many IMDb votes (default {GeneratorConfig().min_votes}).",
        )
        parser.add_argument(
            "--config", help="JSON file overriding the generator's settings (star rules, personas, ...)."
        )
        parser.add_argument("--writers", type=int, default=2, help="Database connections writing at once (default 2).")
        parser.add_argument("--show-config", action="store_true", help="Print the settings as JSON and exit.")

    def handle(self, *args, **options):
        try:
            config = GeneratorConfig.from_json(options["config"]) if options["config"] else GeneratorConfig()
        except ValidationError as error:
            raise CommandError(" ".join(error.messages))
        if options["show_config"]:
            self.stdout.write(json.dumps(config.as_dict(), indent=2))
            return
        if options["users"] is None:
            raise CommandError("--users is required.")
        try:
            run = synthetic_run_generate_create(
                users=options["users"],
                seed=options["seed"],
                min_votes=options["min_votes"],
                config=config if options["config"] else None,
                writers=options["writers"],
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages))
        verbosity = options["verbosity"]
        bar = tqdm(total=options["users"], unit="user", disable=verbosity < 1, file=self.stderr._out, leave=True)

        def progress(done: int, total: int, message: str) -> None:
            bar.update(done - bar.n)
            bar.set_postfix_str(message.split("; ")[-1], refresh=False)
            if verbosity >= 2:
                bar.write(message, file=self.stderr._out)

        try:
            run = synthetic_run_execute(run_id=run.pk, on_progress=progress)
        finally:
            bar.close()
        if run.status != SyntheticRun.Status.SUCCEEDED:
            raise CommandError(f"Synthetic users job #{run.pk} {run.status}: {run.error}")
        if verbosity:
            report = run.result
            rate = report["ratings_created"] / report["seconds"] if report["seconds"] else 0
            self.stdout.write(
                f"{report['users_created']:,} synthetic users created ({report['users_existing']:,} already there), "
                f"{report['ratings_created']:,} ratings, from {report['titles_in_pool']:,} titles, "
                f"in {report['seconds']:.1f} s ({rate:,.0f} ratings/s)."
            )

"""Synthetic raters: a crowd generated from IMDb's aggregate ratings, and its removal.

This package owns every write to synthetic users (``User.Kind.SYNTHETIC``) and to their ratings.
A fresh site has no crowd for the recommender to learn from; the generator makes one whose tastes
are known, so the model's "taste communities" can be checked against the hidden personas.

How one synthetic user is made (all of it vectorised with numpy, a block of users at a time;
docs/synthetic-crowd.md has the reasons and the measurements):

1. **Persona** — the top level, drawn by ``Persona.share``. Each persona likes some genres and
   dislikes others (``DEFAULT_PERSONAS``; the casual viewer has no preference). The persona is
   stored on the user (``User.persona``): the taste communities are scored against it.
2. **Personal tastes**, drawn per user (``generation.Tastes``):

   - *favourite and disliked people* — ``favourite_people`` / ``disliked_people`` directors,
     writers and leading actors (title.crew, and title.principals billed within
     ``leading_billing``), drawn with their popularity (the summed exposure of their titles, to
     the power ``person_popularity_exponent``) times how much of their work the persona likes
     (``person_persona_exponent``; the inverse for disliked people);
   - *an era* — a favourite year (that of a title the persona typically watches) and a tolerance
     in years (``era_width_years``);
   - *a runtime* and *a title type* — those of another such title (``runtime_width``,
     ``other_type_acceptance``);
   - *the obscure or the popular* — an exposure class (``obscurity_shares``): the exponent on IMDb
     votes is ``popularity_exponent`` minus, plus or without ``obscurity_shift``.
3. **How many titles** — heavy-tailed: a log-normal clipped to ``[min_ratings, max_ratings]`` whose
   clipped mean is ``mean_ratings`` (40 by default, so 100,000 users give about 4 million ratings).
4. **Which titles** — exposure *and* taste, as people watch what they expect to like:

   - about ``favourite_share`` of them among the favourite people's titles (by exposure);
   - the rest offered with probability proportional to ``num_votes ** exponent`` times the
     persona's genre weights (``liked_choice_weight`` for each liked genre of the title,
     ``disliked_choice_weight`` for each disliked one, ``genre_weights_multiply``), and kept with
     the user's acceptance: ``era_floor + (1 - era_floor) * exp(-(years away / tolerance)^2 / 2)``,
     the same on the log of the runtime, ``other_type_acceptance`` for another title type and
     ``disliked_person_acceptance`` when a disliked person is credited.

   All distinct, sampled without replacement. Only titles with an IMDb average, at least
   ``min_votes`` votes and a type not in ``excluded_title_types`` take part.
5. **How many stars** — first the seed's rule turns the title's IMDb average into stars
   (``DEFAULT_STAR_BUCKETS``):

   ==============  =========  ===========
   IMDb average    stars      weights
   ==============  =========  ===========
   8.0 and above   3 4 5      10 40 50
   7.0 – 7.9       2 3 4 5    5 35 45 15
   6.0 – 6.9       1 2 3 4    5 30 40 25
   below 6.0       1 2 3      40 40 20
   ==============  =========  ===========

   then the user's affinity for the title shifts it: +1 for a liked genre, -1 for a disliked one
   (a title with both counts as neither), ``+person_star_shift`` when a favourite person is
   credited and ``-person_star_shift`` when a disliked one is; times the user's ``strength``
   (drawn from ``affinity_strength``), plus the user's own leniency (``user_bias_sd``). The shift
   is rounded stochastically (a shift of 0.7 adds one star 70% of the time) and the result
   clipped to 1–5.

Everything above lives in ``GeneratorConfig``; ``GeneratorConfig.from_json`` overrides any of it
from a JSON file (``generate_synthetic_users --config rules.json``).

Reproducible and idempotent: user ``i`` of seed ``S`` has ``external_id = "S:i"`` and is generated
from the random stream of its block of ``BLOCK_SIZE`` users, seeded by ``(S, block)``. The same seed
and catalog always give the same users and ratings, a larger ``--users`` only adds users, and a
second run inserts nothing (``INSERT ... ON CONFLICT DO NOTHING``). A user's ratings are written in
the same transaction as the user, so an existing user is always complete and is skipped.

Fast and bounded: a chunk of users is written together. Its users go through a staging table
(COPY, then ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``); their ratings cannot conflict (the
users are new in this very transaction), so they are COPYed straight into ``ratings_rating``, the
COPY text built with numpy (one gather of fixed-width byte rows, no Python per rating). When the
crowd brings at least as many ratings as the table holds (a fresh site), everything is one
transaction with the rating table's secondary indexes dropped and rebuilt at the end: a sorted
build costs far less than millions of B-tree insertions. Otherwise each chunk is its own
transaction, in title order, ``writers`` chunks at once on their own connections. When the database
role may, a chunk switches off the per-row foreign-key triggers (``session_replication_role =
replica``, as pg_restore does) and checks the same references once per title instead (``FOR KEY
SHARE``); otherwise the triggers run. bench/bench_synthetic.py measures it.

The parts: ``config`` (``GeneratorConfig``, the personas and star buckets), ``generation`` (the taste
model: blocks of users and their ratings, pure numpy), ``writing`` (``synthetic_users_generate``:
the chunks written with COPY) and ``removal`` (``synthetic_users_remove``, ``synthetic_users_count``).
What the rest of the site uses is imported here.
"""

from ratings.synthetic.config import DEFAULT_PERSONAS, DEFAULT_STAR_BUCKETS, GeneratorConfig, Persona, StarBucket
from ratings.synthetic.removal import synthetic_users_count, synthetic_users_remove
from ratings.synthetic.writing import GenerationReport, synthetic_users_generate, synthetic_users_validate

__all__ = [
    "DEFAULT_PERSONAS",
    "DEFAULT_STAR_BUCKETS",
    "GenerationReport",
    "GeneratorConfig",
    "Persona",
    "StarBucket",
    "synthetic_users_count",
    "synthetic_users_generate",
    "synthetic_users_validate",
    "synthetic_users_remove",
]

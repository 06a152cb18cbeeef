"""Synthetic raters: a crowd generated from IMDb's aggregate ratings, and its removal.

This package owns every write to synthetic users (``User.Kind.SYNTHETIC``) and to their ratings.
A fresh site has no crowd for the recommender to learn from; the generator makes one whose tastes
are known, so the model's "taste communities" can be checked against the hidden personas.

How one synthetic user is made (all of it vectorised with numpy, a block of users at a time):

1. **Persona** — drawn by ``Persona.share``. Each persona likes some genres and dislikes others
   (``DEFAULT_PERSONAS``; the casual viewer has no preference). The persona is stored on the user.
2. **How many titles** — heavy-tailed: a log-normal clipped to ``[min_ratings, max_ratings]`` whose
   clipped mean is ``mean_ratings`` (40 by default, so 100,000 users give about 4 million ratings).
3. **Which titles** — sampled without replacement, with probability proportional to
   ``num_votes ** popularity_exponent`` times ``liked_choice_weight`` for titles in a liked genre
   (``disliked_choice_weight`` for a disliked one). Only titles with an IMDb average, at least
   ``min_votes`` votes and a type not in ``excluded_title_types`` take part.
4. **How many stars** — first the seed's rule turns the title's IMDb average into stars
   (``DEFAULT_STAR_BUCKETS``):

   ==============  =========  ===========
   IMDb average    stars      weights
   ==============  =========  ===========
   8.0 and above   3 4 5      10 40 50
   7.0 – 7.9       2 3 4 5    5 35 45 15
   6.0 – 6.9       1 2 3 4    5 30 40 25
   below 6.0       1 2 3      40 40 20
   ==============  =========  ===========

   then the user's taste shifts it: ``+strength`` for a title in a liked genre, ``-strength`` for
   one in a disliked genre (a title with both counts as neither) (``strength`` is drawn per user from ``affinity_strength``), plus the
   user's own leniency (``user_bias_sd``). The shift is rounded stochastically (a shift of 0.7 adds
   one star 70% of the time) and the result clipped to 1–5.

Everything above lives in ``GeneratorConfig``; ``GeneratorConfig.from_json`` overrides any of it
from a JSON file (``generate_synthetic_users --config rules.json``).

Reproducible and idempotent: user ``i`` of seed ``S`` has ``external_id = "S:i"`` and is generated
from the random stream of its block of ``BLOCK_SIZE`` users, seeded by ``(S, block)``. The same seed
and catalog always give the same users and ratings, a larger ``--users`` only adds users, and a
second run inserts nothing (``INSERT ... ON CONFLICT DO NOTHING``). A user's ratings are written in
the same transaction as the user, so an existing user is always complete and is skipped.

Fast and bounded: a chunk of users is one transaction. Its users go through a staging table (COPY,
then ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``); their ratings cannot conflict (the users
are new in this very transaction), so they are COPYed straight into ``ratings_rating``, in title
order. ``writers`` chunks are written at once, on their own connections. When the database role
may, a chunk switches off the per-row foreign-key triggers (``session_replication_role =
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

"""The synthetic crowd's rules: personas, the star buckets that turn an IMDb average into stars, the
per-user tastes (people, eras, title types, runtime, the obscure or the popular), and every other
knob of the generator (``GeneratorConfig``, overridable from JSON). Data only.

ratings/synthetic/__init__.py describes how the rules combine; each field below says what it does.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from django.core.exceptions import ValidationError

STARS = (1, 2, 3, 4, 5)
_TUPLE_FIELDS = (
    "affinity_strength",
    "excluded_title_types",
    "obscurity_shares",
    "people_roles",
    "favourite_people",
    "disliked_people",
    "era_width_years",
    "runtime_width",
)


@dataclass(frozen=True)
class StarBucket:
    """Titles whose IMDb average is at least ``min_average`` (and below the bucket above) get
    ``stars`` with relative ``weights``."""

    min_average: float
    stars: tuple[int, ...]
    weights: tuple[float, ...]


@dataclass(frozen=True)
class Persona:
    name: str
    label: str
    likes: tuple[str, ...] = ()
    dislikes: tuple[str, ...] = ()
    share: float = 1.0


# The seed's rule, highest bucket first. The last bucket catches everything below.
DEFAULT_STAR_BUCKETS = (
    StarBucket(8.0, (3, 4, 5), (10, 40, 50)),
    StarBucket(7.0, (2, 3, 4, 5), (5, 35, 45, 15)),
    StarBucket(6.0, (1, 2, 3, 4), (5, 30, 40, 25)),
    StarBucket(0.0, (1, 2, 3), (40, 40, 20)),
)

# The seed's personas (likes), with dislikes added so affinity can push stars down as well as up.
DEFAULT_PERSONAS = (
    Persona(
        "action_fan", "Action fan", ("Action", "Adventure", "Thriller"), ("Romance", "Musical", "Documentary"), 0.18
    ),
    Persona("drama_lover", "Drama lover", ("Drama", "Romance", "Biography"), ("Horror", "Sci-Fi", "Action"), 0.17),
    Persona("comedy_fan", "Comedy fan", ("Comedy", "Family", "Animation"), ("Horror", "War", "Film-Noir"), 0.18),
    Persona("scifi_geek", "Sci-fi geek", ("Sci-Fi", "Fantasy", "Horror"), ("Romance", "Musical", "Biography"), 0.13),
    Persona("crime_fan", "Crime fan", ("Drama", "Crime", "War"), ("Family", "Animation", "Musical"), 0.14),
    Persona("casual_viewer", "Casual viewer", (), (), 0.20),
)


@dataclass(frozen=True)
class GeneratorConfig:
    # --- the top level: the seed's star rule and personas ------------------------------------------
    star_buckets: tuple[StarBucket, ...] = DEFAULT_STAR_BUCKETS
    personas: tuple[Persona, ...] = DEFAULT_PERSONAS
    # --- how many titles a user rates: a log-normal clipped to [min_ratings, max_ratings] ----------
    mean_ratings: float = 40.0
    ratings_sigma: float = 1.0
    min_ratings: int = 5
    max_ratings: int = 1500
    # --- which titles: exposure (IMDb votes) times the persona's genre weights ---------------------
    # A title's exposure is num_votes ** exponent; the exponent is popularity_exponent shifted by
    # the user's taste for the obscure (-obscurity_shift) or the popular (+obscurity_shift), drawn
    # with obscurity_shares (obscure, typical, popular).
    popularity_exponent: float = 0.75
    obscurity_shift: float = 0.3
    obscurity_shares: tuple[float, float, float] = (0.25, 0.5, 0.25)
    # Choice weight of a title in one of the persona's liked genres (disliked: the other one).
    # With genre_weights_multiply each liked (disliked) genre of a title multiplies its weight, so a
    # Crime-Drama is a crime fan's title more than a drama lover's; without, the seed's rule (any
    # liked genre: liked_choice_weight; else any disliked one: disliked_choice_weight).
    liked_choice_weight: float = 50.0
    disliked_choice_weight: float = 0.02
    genre_weights_multiply: bool = True
    # --- people: favourite and disliked directors, writers and leading actors ----------------------
    # Credits from title.crew (director, writer) and title.principals (these categories, billed
    # within the first leading_billing places).
    people_roles: tuple[str, ...] = ("director", "writer", "actor", "actress")
    leading_billing: int = 3
    # Per user, a number of favourites and of disliked people, uniform in [low, high]. People are
    # drawn with their popularity (the summed exposure of their titles) ** person_popularity_exponent
    # times, for favourites, the persona's mean choice weight over their titles **
    # person_persona_exponent (the inverse for disliked people): a drama lover's favourites are
    # mostly drama people. Only people with favourite_min_titles titles in play can be drawn.
    favourite_people: tuple[int, int] = (2, 5)
    disliked_people: tuple[int, int] = (0, 2)
    person_popularity_exponent: float = 0.5
    person_persona_exponent: float = 2.0
    favourite_min_titles: int = 2
    # The share of a user's titles picked among their favourites' titles (as fans do), the rest by
    # exposure and taste; a title by a disliked person is watched with this probability only.
    favourite_share: float = 0.35
    disliked_person_acceptance: float = 0.1
    # --- eras, runtime and title types: how likely a title offered by exposure is watched ---------
    # Each user has a favourite year (that of a title drawn by their persona's weights) and a
    # tolerance in years drawn from era_width_years: a title's chance is era_floor + (1 - era_floor)
    # * exp(-(years away / tolerance)^2 / 2). Runtime likewise, on the log of the minutes.
    era_width_years: tuple[float, float] = (8.0, 40.0)
    era_floor: float = 0.1
    runtime_width: tuple[float, float] = (0.15, 0.8)
    runtime_floor: float = 0.2
    # Each user has a favourite title type (that of a title drawn as above); other types are
    # watched with this probability.
    other_type_acceptance: float = 0.4
    # --- stars: the bucket rule shifted by the user's affinity for the title ----------------------
    # affinity = genre (+1 liked, -1 disliked) + person_star_shift if a favourite person is credited
    # - person_star_shift if a disliked one is; shift = strength * affinity + the user's leniency
    # (normal, user_bias_sd); strength is drawn per user from affinity_strength.
    affinity_strength: tuple[float, float] = (0.5, 1.0)
    person_star_shift: float = 1.0
    user_bias_sd: float = 0.3
    excluded_title_types: tuple[str, ...] = ("tvEpisode", "videoGame")
    # Not part of the taste model: 100 votes keeps obscure titles out but leaves thousands of
    # classic films in the bundled 1894-1957 sample.
    min_votes: int = 100

    @property
    def exposure_exponents(self) -> tuple[float, float, float]:
        """The exposure exponent of the obscure, typical and popular users."""
        base, shift = self.popularity_exponent, self.obscurity_shift
        return (max(0.0, base - shift), base, base + shift)

    @classmethod
    def from_dict(cls, data: dict) -> GeneratorConfig:
        """Defaults overridden by ``data`` (the JSON shape of ``asdict``); unknown keys are errors."""
        if not isinstance(data, dict):
            raise ValidationError("The generator configuration must be a JSON object.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(
                f"Unknown generator setting(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
            )
        values = dict(data)
        try:
            if "star_buckets" in values:
                values["star_buckets"] = tuple(
                    StarBucket(
                        float(b["min_average"]),
                        tuple(int(s) for s in b["stars"]),
                        tuple(float(w) for w in b["weights"]),
                    )
                    for b in values["star_buckets"]
                )
            if "personas" in values:
                values["personas"] = tuple(
                    Persona(
                        str(p["name"]),
                        str(p.get("label", p["name"])),
                        tuple(p.get("likes", ())),
                        tuple(p.get("dislikes", ())),
                        float(p.get("share", 1.0)),
                    )
                    for p in values["personas"]
                )
            for key in _TUPLE_FIELDS:
                if key in values:
                    values[key] = tuple(values[key])
        except (KeyError, TypeError, ValueError) as error:
            raise ValidationError(f"Malformed generator setting: {error!r}")
        config = replace(cls(), **values)
        config.validate()
        return config

    @classmethod
    def from_json(cls, path: str | Path) -> GeneratorConfig:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise ValidationError(f"Cannot read generator configuration {path}: {error}")
        return cls.from_dict(data)

    def as_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        errors = []
        buckets = self.star_buckets
        if not buckets:
            errors.append("star_buckets: at least one bucket is needed.")
        thresholds = [b.min_average for b in buckets]
        if thresholds != sorted(thresholds, reverse=True) or len(set(thresholds)) != len(thresholds):
            errors.append("star_buckets: min_average must be strictly decreasing (highest bucket first).")
        for bucket in buckets:
            if not bucket.stars or len(bucket.stars) != len(bucket.weights):
                errors.append(f"star_buckets {bucket.min_average}: one weight per star is needed.")
            if any(s not in STARS for s in bucket.stars) or len(set(bucket.stars)) != len(bucket.stars):
                errors.append(f"star_buckets {bucket.min_average}: stars must be distinct values from 1 to 5.")
            if any(w < 0 for w in bucket.weights) or sum(bucket.weights) <= 0:
                errors.append(f"star_buckets {bucket.min_average}: weights must be non-negative, not all zero.")
        if not self.personas:
            errors.append("personas: at least one persona is needed.")
        names = [p.name for p in self.personas]
        if len(set(names)) != len(names) or any(not n or len(n) > 32 for n in names):
            errors.append("personas: names must be unique, 1 to 32 characters.")
        if any(p.share < 0 for p in self.personas) or sum(p.share for p in self.personas) <= 0:
            errors.append("personas: shares must be non-negative, not all zero.")
        if not (1 <= self.min_ratings <= self.max_ratings):
            errors.append("min_ratings must be at least 1 and at most max_ratings.")
        if not (self.min_ratings <= self.mean_ratings < self.max_ratings):
            errors.append("mean_ratings must lie between min_ratings and max_ratings.")
        if self.ratings_sigma <= 0:
            errors.append("ratings_sigma must be positive.")
        if self.popularity_exponent < 0 or self.liked_choice_weight <= 0 or self.disliked_choice_weight <= 0:
            errors.append("popularity_exponent must be >= 0 and the choice weights > 0.")
        if len(self.affinity_strength) != 2 or not (0 <= self.affinity_strength[0] <= self.affinity_strength[1]):
            errors.append("affinity_strength must be [low, high] with 0 <= low <= high.")
        if self.obscurity_shift < 0 or len(self.obscurity_shares) != 3:
            errors.append("obscurity_shift must be >= 0 and obscurity_shares three shares (obscure, typical, popular).")
        elif any(share < 0 for share in self.obscurity_shares) or sum(self.obscurity_shares) <= 0:
            errors.append("obscurity_shares must be non-negative, not all zero.")
        for name in ("favourite_people", "disliked_people"):
            low_high = getattr(self, name)
            if (
                len(low_high) != 2
                or not (0 <= low_high[0] <= low_high[1] <= 50)
                or any(not isinstance(value, int) or isinstance(value, bool) for value in low_high)
            ):
                errors.append(f"{name} must be [low, high], whole numbers with 0 <= low <= high <= 50.")
        for name in ("era_width_years", "runtime_width"):
            low_high = getattr(self, name)
            if len(low_high) != 2 or not (0 < low_high[0] <= low_high[1]):
                errors.append(f"{name} must be [low, high] with 0 < low <= high.")
        for name in (
            "favourite_share",
            "disliked_person_acceptance",
            "era_floor",
            "runtime_floor",
            "other_type_acceptance",
        ):
            if not (0 <= getattr(self, name) <= 1):
                errors.append(f"{name} must be between 0 and 1.")
        if self.disliked_person_acceptance <= 0 or self.other_type_acceptance <= 0:
            errors.append("disliked_person_acceptance and other_type_acceptance must be above 0.")
        if self.person_popularity_exponent < 0 or self.person_persona_exponent < 0 or self.person_star_shift < 0:
            errors.append("person_popularity_exponent, person_persona_exponent and person_star_shift must be >= 0.")
        if self.favourite_min_titles < 1 or self.leading_billing < 0:
            errors.append("favourite_min_titles must be >= 1 and leading_billing >= 0.")
        if not isinstance(self.genre_weights_multiply, bool):
            errors.append("genre_weights_multiply must be true or false.")
        if any(not isinstance(role, str) or not role for role in self.people_roles):
            errors.append("people_roles must be names of crew roles or principal categories.")
        if self.user_bias_sd < 0:
            errors.append("user_bias_sd must be >= 0.")
        if self.min_votes < 0:
            errors.append("min_votes must be >= 0.")
        if errors:
            raise ValidationError(errors)

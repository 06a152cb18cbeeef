"""The synthetic crowd's rules: personas, the star buckets that turn an IMDb average into stars, and
every other knob of the generator (``GeneratorConfig``, overridable from JSON). Data only."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from django.core.exceptions import ValidationError

STARS = (1, 2, 3, 4, 5)


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
    star_buckets: tuple[StarBucket, ...] = DEFAULT_STAR_BUCKETS
    personas: tuple[Persona, ...] = DEFAULT_PERSONAS
    mean_ratings: float = 40.0
    ratings_sigma: float = 1.0
    min_ratings: int = 5
    max_ratings: int = 1500
    popularity_exponent: float = 0.75
    liked_choice_weight: float = 5.0
    disliked_choice_weight: float = 0.3
    affinity_strength: tuple[float, float] = (0.5, 1.0)
    user_bias_sd: float = 0.3
    excluded_title_types: tuple[str, ...] = ("tvEpisode", "videoGame")
    # Not part of the taste model: 100 votes keeps obscure titles out but leaves thousands of
    # classic films in the bundled 1894-1957 sample.
    min_votes: int = 100

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
            for key in ("affinity_strength", "excluded_title_types"):
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
        if self.user_bias_sd < 0:
            errors.append("user_bias_sd must be >= 0.")
        if self.min_votes < 0:
            errors.append("min_votes must be >= 0.")
        if errors:
            raise ValidationError(errors)

"""IMDb's seven files as tables. IMDb's identifiers (``tconst``, ``nconst``) are the primary keys.

Cross-file references may dangle in a partial dump (a principal whose person is not in
name.basics): those foreign keys are declared with ``db_constraint=False`` so the rows are kept,
and pages treat the missing side as unknown. Rows that disappear from a newer dump are flagged
with ``removed_at`` rather than deleted, because users' ratings point at titles.
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.urls import reverse

from imdbrec.runs import BackgroundRun


class TitleType(models.TextChoices):
    """IMDb's ``titleType`` values, labelled as IMDb's own pages label them: the one label table
    of every page, form, filter and card. A type IMDb adds later is kept and shown as it is."""

    MOVIE = "movie", "Movie"
    TV_SERIES = "tvSeries", "TV Series"
    TV_MINI_SERIES = "tvMiniSeries", "TV Mini Series"
    TV_MOVIE = "tvMovie", "TV Movie"
    TV_EPISODE = "tvEpisode", "TV Episode"
    TV_SPECIAL = "tvSpecial", "TV Special"
    SHORT = "short", "Short"
    TV_SHORT = "tvShort", "TV Short"
    VIDEO = "video", "Video"
    VIDEO_GAME = "videoGame", "Video Game"
    TV_PILOT = "tvPilot", "TV Pilot"


def title_type_label(value: str) -> str:
    """IMDb's label of a ``titleType`` value; an unknown value as it is."""
    return TitleType(value).label if value in TitleType.values else value


class Genre(models.TextChoices):
    """IMDb's genres (title.basics uses exactly these spellings, which are also their labels). A
    fixed list: reading the distinct genres from 12M titles on every page would be a full scan."""

    ACTION = "Action", "Action"
    ADULT = "Adult", "Adult"
    ADVENTURE = "Adventure", "Adventure"
    ANIMATION = "Animation", "Animation"
    BIOGRAPHY = "Biography", "Biography"
    COMEDY = "Comedy", "Comedy"
    CRIME = "Crime", "Crime"
    DOCUMENTARY = "Documentary", "Documentary"
    DRAMA = "Drama", "Drama"
    FAMILY = "Family", "Family"
    FANTASY = "Fantasy", "Fantasy"
    FILM_NOIR = "Film-Noir", "Film-Noir"
    GAME_SHOW = "Game-Show", "Game-Show"
    HISTORY = "History", "History"
    HORROR = "Horror", "Horror"
    MUSIC = "Music", "Music"
    MUSICAL = "Musical", "Musical"
    MYSTERY = "Mystery", "Mystery"
    NEWS = "News", "News"
    REALITY_TV = "Reality-TV", "Reality-TV"
    ROMANCE = "Romance", "Romance"
    SCI_FI = "Sci-Fi", "Sci-Fi"
    SHORT = "Short", "Short"
    SPORT = "Sport", "Sport"
    TALK_SHOW = "Talk-Show", "Talk-Show"
    THRILLER = "Thriller", "Thriller"
    WAR = "War", "War"
    WESTERN = "Western", "Western"


# Genres offered for browsing and as favourites: everything but adult titles, which lists leave out.
BROWSE_GENRES = tuple(genre.value for genre in Genre if genre != Genre.ADULT)

# ``m`` of the weighted rating (``Title.weighted_rating``). IMDb's own Top 250 uses m = 25,000
# votes: below that a title's mean is pulled towards the catalogue mean, so a 10/10 with 5 votes
# scores almost exactly the catalogue mean.
WEIGHTED_RATING_MIN_VOTES = getattr(settings, "CATALOG_WEIGHTED_RATING_MIN_VOTES", 25_000)


class Title(models.Model):
    """title.basics, with the aggregate rating of title.ratings copied in for fast filters."""

    tconst = models.CharField(max_length=12, primary_key=True)
    title_type = models.CharField(max_length=32, choices=TitleType.choices)
    primary_title = models.TextField()
    original_title = models.TextField(blank=True)
    is_adult = models.BooleanField(default=False)
    start_year = models.SmallIntegerField(null=True, blank=True)
    end_year = models.SmallIntegerField(null=True, blank=True)
    runtime_minutes = models.IntegerField(null=True, blank=True)
    genres = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    # Denormalised from title.ratings by the importer (set-based UPDATE), NULL when unrated.
    average_rating = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True)
    num_votes = models.IntegerField(default=0)
    # The Bayesian average ``v/(v+m)·R + m/(v+m)·C`` of the IMDb rating R with v votes, NULL when
    # unrated: the key of the "highest rated" sort, with its own index (migration 0010). Written
    # by the database, never by Python: a trigger computes it whenever a row's rating or votes
    # are written (by the importer's ratings sync or anything else), from m and C kept in
    # ``catalog_weightedrating``; the ratings sync refreshes C after each import
    # (``catalog.importing.weighted_rating``).
    weighted_rating = models.FloatField(null=True, blank=True, editable=False)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            GinIndex(fields=["genres"], name="catalog_title_genres_gin"),
            models.Index(fields=["-num_votes"], name="catalog_title_votes_idx"),
            models.Index(fields=["start_year"], name="catalog_title_year_idx"),
            # a plain B-tree: the text_pattern_ops twin that db_index=True adds serves no query
            models.Index(fields=["title_type"], name="catalog_title_type_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.primary_title} ({self.start_year})" if self.start_year else self.primary_title

    def get_absolute_url(self) -> str:
        return reverse("catalog:title_detail", args=[self.tconst])

    @property
    def item_id(self) -> int:
        """The integer id the recommender uses: the digits of ``tconst``."""
        return int(self.tconst[2:])


class TitleRating(models.Model):
    """title.ratings as published, kept even for titles missing from title.basics."""

    title = models.OneToOneField(
        Title, primary_key=True, db_constraint=False, on_delete=models.DO_NOTHING, related_name="imdb_rating"
    )
    average_rating = models.DecimalField(max_digits=3, decimal_places=1)
    num_votes = models.IntegerField()
    removed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.title_id}: {self.average_rating} ({self.num_votes} votes)"


class Person(models.Model):
    """name.basics."""

    nconst = models.CharField(max_length=12, primary_key=True)
    primary_name = models.TextField()
    birth_year = models.SmallIntegerField(null=True, blank=True)
    death_year = models.SmallIntegerField(null=True, blank=True)
    primary_profession = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    # tconsts as published; some may not be in the catalog.
    known_for_titles = ArrayField(models.CharField(max_length=12), default=list, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return self.primary_name

    def get_absolute_url(self) -> str:
        return reverse("catalog:person_detail", args=[self.nconst])


class TitleAka(models.Model):
    """title.akas: alternative titles by region and language."""

    # indexed by the unique (title, ordering) constraint
    title = models.ForeignKey(
        Title, db_constraint=False, db_index=False, on_delete=models.DO_NOTHING, related_name="akas"
    )
    ordering = models.IntegerField()
    aka_title = models.TextField()
    region = models.CharField(max_length=8, blank=True)
    language = models.CharField(max_length=8, blank=True)
    types = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    attributes = ArrayField(models.TextField(), default=list, blank=True)
    is_original_title = models.BooleanField(null=True)
    # No earlier line of this title in IMDb's file has the same aka_title, byte for byte (a third
    # of akas repeat one in another region). The search indexes of aka titles hold only these
    # rows (migration 0011); the importer keeps the flag exact on every refresh.
    name_first = models.BooleanField(default=True, db_default=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "alternative title"
        constraints = [models.UniqueConstraint(fields=["title", "ordering"], name="catalog_titleaka_unique")]

    def __str__(self) -> str:
        return self.aka_title


class Crew(models.Model):
    """title.crew, one row per (title, person, role): directors and writers as relations."""

    class Role(models.TextChoices):
        DIRECTOR = "director", "Director"
        WRITER = "writer", "Writer"

    # title: indexed by the unique (title, person, role) constraint; person: by catalog_crew_person_idx
    title = models.ForeignKey(
        Title, db_constraint=False, db_index=False, on_delete=models.DO_NOTHING, related_name="crew"
    )
    person = models.ForeignKey(
        Person, db_constraint=False, db_index=False, on_delete=models.DO_NOTHING, related_name="crew_credits"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    ordering = models.SmallIntegerField(default=0)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "crew"
        constraints = [models.UniqueConstraint(fields=["title", "person", "role"], name="catalog_crew_unique")]
        indexes = [models.Index(fields=["person"], name="catalog_crew_person_idx")]

    def __str__(self) -> str:
        return f"{self.title_id} {self.role} {self.person_id}"


class Episode(models.Model):
    """title.episode: the episode's own tconst, its parent series (which may be missing)."""

    title = models.OneToOneField(
        Title, primary_key=True, db_constraint=False, on_delete=models.DO_NOTHING, related_name="episode"
    )
    # indexed by catalog_episode_parent_idx (parent, season, episode)
    parent = models.ForeignKey(
        Title, db_constraint=False, db_index=False, on_delete=models.DO_NOTHING, related_name="episodes"
    )
    season_number = models.IntegerField(null=True, blank=True)
    episode_number = models.IntegerField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["parent", "season_number", "episode_number"], name="catalog_episode_parent_idx")
        ]

    def __str__(self) -> str:
        return f"{self.title_id} of {self.parent_id} S{self.season_number}E{self.episode_number}"


class Principal(models.Model):
    """title.principals: billing order, category, job and characters played."""

    # title: indexed by the unique (title, ordering) constraint; person: by catalog_principal_person_idx
    title = models.ForeignKey(
        Title, db_constraint=False, db_index=False, on_delete=models.DO_NOTHING, related_name="principals"
    )
    ordering = models.IntegerField()
    person = models.ForeignKey(
        Person, db_constraint=False, db_index=False, on_delete=models.DO_NOTHING, related_name="principals"
    )
    category = models.CharField(max_length=64)
    job = models.TextField(blank=True)
    characters = ArrayField(models.TextField(), default=list, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["title", "ordering"], name="catalog_principal_unique")]
        indexes = [models.Index(fields=["person"], name="catalog_principal_person_idx")]

    def __str__(self) -> str:
        return f"{self.title_id} #{self.ordering} {self.category} {self.person_id}"


class ImportRun(BackgroundRun):
    """One import of IMDb files: what was loaded, updated, removed and rejected, and how it went."""

    source = models.TextField(help_text="Directory or URL the files came from")
    files = models.JSONField(default=list, blank=True, help_text="Dataset names asked for")
    # Per file: {"title.basics": {"lines": n, "loaded": n, "updated": n, "removed": n, "rejected": n, "error": ""}}
    counts = models.JSONField(default=dict, blank=True)
    current_file = models.CharField(max_length=64, blank=True)
    rows_done = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Import #{self.pk} ({self.status})"


class ImportReject(models.Model):
    """A row the importer refused: file, line number and reason, with the raw line for inspection."""

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="rejects")
    file = models.CharField(max_length=64)
    line = models.BigIntegerField()
    reason = models.TextField()
    raw = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "file", "line"]
        indexes = [models.Index(fields=["run", "file"], name="catalog_reject_run_file_idx")]

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"

"""The browse filters and the search box, read from GET so every state is a shareable URL."""

from django import forms
from django.core.exceptions import ValidationError

from catalog.models import BROWSE_GENRES, TitleType
from imdbrec.parsing import AsciiIntegerField, DistinctMultipleChoiceField

SORT_CHOICES = (
    ("popularity", "Most popular"),
    ("rating", "Highest rated"),
    ("year", "Newest first"),
    ("title", "Title A–Z"),
)

YEAR_MIN, YEAR_MAX = 1870, 2100


class TitleFilterForm(forms.Form):
    """GET parameters of /titles/: ``genre`` (repeatable), ``year_min``, ``year_max``, ``type``
    (repeatable), ``min_votes``, ``sort``. An invalid value is reported and ignored; the other
    filters still apply."""

    genre = DistinctMultipleChoiceField(
        choices=[(genre, genre) for genre in BROWSE_GENRES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Genres",
        help_text="Titles with every genre ticked.",
    )
    year_min = AsciiIntegerField(required=False, min_value=YEAR_MIN, max_value=YEAR_MAX, label="From year")
    year_max = AsciiIntegerField(required=False, min_value=YEAR_MIN, max_value=YEAR_MAX, label="To year")
    type = DistinctMultipleChoiceField(
        choices=TitleType.choices, required=False, label="Type", widget=forms.SelectMultiple(attrs={"size": 1})
    )
    min_votes = AsciiIntegerField(required=False, min_value=0, max_value=10_000_000, label="Min. votes")
    sort = forms.ChoiceField(choices=SORT_CHOICES, required=False, label="Sort by")

    def __init__(self, data=None, *args, genres=None, **kwargs):
        """``genres``: the genres offered as checkboxes (those with titles,
        ``catalog.selectors.browse_facets``); every browse genre when not given. A genre asked for
        in the URL stays valid and ticked even without titles: the page then says nothing matches."""
        if data is not None:
            # The form's own "Any type" option submits ``type=``: an empty choice means no filter.
            data = data.copy()
            for name in ("genre", "type"):
                data.setlist(name, [value for value in data.getlist(name) if value])
        super().__init__(data, *args, **kwargs)
        if genres is not None:
            asked = set(self.data.getlist("genre")) if data is not None else set()
            offered = set(genres) | asked
            self.fields["genre"].choices = [(genre, genre) for genre in BROWSE_GENRES if genre in offered]
        for name in ("year_min", "year_max", "min_votes"):
            self.fields[name].widget.attrs.update({"inputmode": "numeric", "placeholder": "any"})
        self.fields["year_min"].widget.attrs["placeholder"] = str(YEAR_MIN)
        self.fields["year_max"].widget.attrs["placeholder"] = "now"

    def clean(self):
        cleaned = super().clean()
        year_min, year_max = cleaned.get("year_min"), cleaned.get("year_max")
        if year_min is not None and year_max is not None and year_min > year_max:
            self.add_error("year_max", ValidationError("“To year” must not be before “From year”."))
        return cleaned

    def filters(self) -> dict:
        """Keyword arguments for ``catalog.selectors.title_browse``: the valid fields only."""
        self.is_valid()
        data = {name: value for name, value in self.cleaned_data.items() if name not in self.errors}
        return {
            "genres": data.get("genre") or [],
            "year_min": data.get("year_min"),
            "year_max": data.get("year_max"),
            "title_types": data.get("type") or [],
            "min_votes": data.get("min_votes"),
            "sort": data.get("sort") or "popularity",
        }

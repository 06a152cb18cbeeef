from django import forms

from catalog.models import title_type_label
from imdbrec.parsing import AsciiIntegerField, DistinctMultipleChoiceField
from recommender.serving.ranking_controls import DISCOVERY_DEFAULT, DISCOVERY_STEPS, RankingControls


class RecommendationFilterForm(forms.Form):
    """GET filters of the recommendations page; choices come from the titles the model knows."""

    genre = forms.ChoiceField(required=False, choices=[("", "Any genre")])
    type = forms.ChoiceField(required=False, choices=[("", "Any type")], label="Type")
    year_min = AsciiIntegerField(required=False, min_value=1870, max_value=2100, label="From year")
    year_max = AsciiIntegerField(required=False, min_value=1870, max_value=2100, label="To year")

    def __init__(self, *args, genres=(), title_types=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["genre"].choices = [("", "Any genre")] + [(genre, genre) for genre in genres]
        self.fields["type"].choices = [("", "Any type")] + [
            (title_type, title_type_label(title_type)) for title_type in title_types
        ]
        self.fields["year_min"].widget.attrs.update({"placeholder": "1900", "inputmode": "numeric"})
        self.fields["year_max"].widget.attrs.update({"placeholder": "2025", "inputmode": "numeric"})

    def clean(self):
        cleaned = super().clean()
        year_min, year_max = cleaned.get("year_min"), cleaned.get("year_max")
        if year_min is not None and year_max is not None and year_min > year_max:
            raise forms.ValidationError("“From year” must not be after “To year”.", code="year_order")
        return cleaned


class GenrePickForm(forms.Form):
    """Onboarding: the genres a new user likes (checkboxes shown as chips)."""

    genres = DistinctMultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple, choices=[])

    def __init__(self, *args, genres=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["genres"].choices = [(genre, genre) for genre in genres]


class RecommendationControlsForm(forms.Form):
    """The member's say over their list (``ranking_controls``): in the URL and saved by POST."""

    discovery = forms.TypedChoiceField(
        coerce=int,
        choices=[(step, label) for step, label in DISCOVERY_STEPS.items()],
        initial=DISCOVERY_DEFAULT,
        required=False,
        empty_value=None,
        label="Discovery",
    )
    variety = forms.BooleanField(required=False, label="More variety")
    hide_before = AsciiIntegerField(required=False, min_value=1870, max_value=2100, label="Hide titles before")
    hide_genre = forms.ChoiceField(required=False, choices=[("", "No genre")], label="Hide genre")

    def __init__(self, *args, genres=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["hide_genre"].choices = [("", "No genre")] + [(genre, genre) for genre in genres]

    def clean_variety(self):
        # "variety=0" in a URL means off; a checkbox sends "on" and nothing when unticked.
        raw = self.data.get("variety") if hasattr(self.data, "get") else None
        if raw in ("0", "false", "off"):
            return False
        return self.cleaned_data.get("variety", False)

    def controls(self) -> RankingControls:
        data = self.cleaned_data
        return RankingControls(
            discovery=data.get("discovery") or DISCOVERY_DEFAULT,
            variety=bool(data.get("variety")),
            hide_before=data.get("hide_before"),
            hide_genre=data.get("hide_genre") or "",
        )

from django import forms

from catalog.models import title_type_label
from imdbrec.parsing import AsciiIntegerField, DistinctMultipleChoiceField


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

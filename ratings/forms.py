from collections.abc import Sequence
from typing import cast

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

SCORE_CHOICES = [(str(i), f"{i} star{'s' if i > 1 else ''}") for i in range(1, 6)]


class RatingForm(forms.Form):
    """POST from the star control: ``score`` 1-5, or ``remove=1`` / an empty ``score`` to remove."""

    score = forms.TypedChoiceField(
        choices=SCORE_CHOICES,
        coerce=int,
        required=False,
        empty_value=None,
        error_messages={"invalid_choice": "A score must be a whole number of stars from 1 to 5, not “%(value)s”."},
    )
    remove = forms.BooleanField(required=False)

    def clean(self):
        cleaned = super().clean()
        if "score" not in self.data and not cleaned.get("remove"):
            raise forms.ValidationError("Send a score from 1 to 5, or remove=1 to remove the rating.", code="missing")
        return cleaned

    @property
    def removes(self) -> bool:
        return bool(self.cleaned_data.get("remove")) or self.cleaned_data.get("score") is None


class RatingHistoryFilterForm(forms.Form):
    sort = forms.ChoiceField(
        required=False,
        choices=[
            ("-date", "Newest first"),
            ("date", "Oldest first"),
            ("-score", "Highest score"),
            ("score", "Lowest score"),
            ("title", "Title A–Z"),
            ("-title", "Title Z–A"),
            ("-year", "Newest year"),
            ("year", "Oldest year"),
        ],
    )
    score = forms.TypedChoiceField(required=False, choices=[("", "Any")] + SCORE_CHOICES, coerce=int, empty_value=None)
    genre = forms.ChoiceField(required=False, choices=[("", "Any")])

    def __init__(self, *args, genres: Sequence[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["genre"]).choices = [("", "Any")] + [(genre, genre) for genre in genres]


class ImdbRatingsUploadForm(forms.Form):
    file = forms.FileField(
        label="Your export (CSV or ZIP)",
        help_text=(
            "IMDb: Your Ratings → ⋯ → Export (ratings.csv). Letterboxd: Settings → Import & Export → "
            "Export your data (the ZIP, or its ratings.csv, diary.csv, watched.csv or watchlist.csv). "
            "Or a ZIP exported from this site."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = max(settings.MAX_RATINGS_UPLOAD_BYTES, settings.MAX_MEMBER_IMPORT_BYTES)
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {filesizeformat(upload.size)}; the limit is {filesizeformat(limit)}.", code="too_large"
            )
        return upload

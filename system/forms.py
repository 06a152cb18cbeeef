"""One form per staff action of the system page. Each validates what it is given before any
service is called; the services validate again (they are also called from the command line)."""

from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS

from imdbrec.parsing import AsciiFloatField, AsciiIntegerField
from recommender.spark.params import DEFAULT_PARAMS, ParamsError, params_resolve


class StaffActionForm(forms.Form):
    """Field ids carry the form's ``id_prefix`` (several forms share the system page)."""

    id_prefix = "system"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.id_prefix}-%s")
        super().__init__(*args, **kwargs)

    def error_texts(self) -> list[str]:
        """Each error as one line; a field's error names the field unless it already does."""
        texts = []
        for name, errors in self.errors.items():
            label = str(self[name].label) if name in self.fields else name
            for error in map(str, errors):
                if name == NON_FIELD_ERRORS or label.lower() in error.lower():
                    texts.append(error)
                else:
                    texts.append(f"{label}: {error}")
        return texts


class NameListField(forms.Field):
    """Zero or more names sent under one key (``files=title.basics&files=title.ratings``)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[str]:
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        return [str(name) for name in value if name]


class ImportStartForm(StaffActionForm):
    SOURCES = {
        "sample": "The bundled sample",
        "directory": "A directory on the server",
        "download": "IMDb's official download",
    }

    id_prefix = "import"

    source = forms.ChoiceField(
        choices=list(SOURCES.items()),
        error_messages={
            "required": f"Choose an import source: one of {', '.join(SOURCES)}.",
            "invalid_choice": f"Unknown import source %(value)r: choose one of {', '.join(SOURCES)}.",
        },
    )
    # The service says what is wrong with a path (missing, not a directory, none of the files).
    directory = forms.CharField(required=False, strip=False, label="Directory on the server")
    # The POST key the pages and scripts send. Django takes declared fields out of the class, so
    # this does not shadow Form.files (the uploads) at run time; mypy cannot know that.
    files = NameListField(required=False, label="Files")  # type: ignore[assignment]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["directory"].widget.attrs.update({"placeholder": settings.IMDB_DATA_DIR, "required": True})

    def clean(self):
        data = super().clean()
        if data.get("source") == "directory" and not data.get("directory"):
            self.add_error(None, "Give the directory on the server to import.")
        return data


class SyntheticGenerateForm(StaffActionForm):
    id_prefix = "synthetic"

    users = AsciiIntegerField(
        min_value=1,
        max_value=1_000_000,
        initial=3000,
        label="Users",
        help_text="How many synthetic users (seed:0 … seed:N-1); existing ones are kept.",
    )
    seed = AsciiIntegerField(
        min_value=0,
        max_value=2**31 - 1,
        initial=42,
        label="Seed",
        help_text="The same seed always gives the same users and ratings.",
    )
    min_votes = AsciiIntegerField(
        min_value=0,
        required=False,
        label="Minimum IMDb votes",
        help_text="Only titles with at least this many votes are rated (blank: the default).",
    )


class SyntheticRemoveForm(StaffActionForm):
    """Removing the synthetic crowd takes no parameter; the form keeps every action on one path
    (bound, validated, errors shown)."""

    id_prefix = "synthetic-remove"


def _training_number(name: str, field_class: type[forms.Field], whole: bool, attrs: dict) -> forms.Field:
    kind = "a whole number" if whole else "a number"
    return field_class(
        required=False,
        label=name,
        error_messages={"invalid": f"{name} must be {kind}."},
        widget=forms.NumberInput(attrs={"placeholder": DEFAULT_PARAMS[name], "class": "input-narrow", **attrs}),
    )


class TrainingStartForm(StaffActionForm):
    """The parameters a staff member may set for one training; blank ones keep the defaults.
    The ranges are the training's own (``recommender.spark.params``)."""

    id_prefix = "training"
    NUMBERS = ("rank", "reg", "iterations", "alpha")

    rank = _training_number("rank", AsciiIntegerField, True, {"min": 1, "max": 500})
    reg = _training_number("reg", AsciiFloatField, False, {"min": 0})
    iterations = _training_number("iterations", AsciiIntegerField, True, {"min": 1, "max": 200})
    alpha = _training_number("alpha", AsciiFloatField, False, {"min": 0})
    grid = forms.BooleanField(
        required=False, label="grid search (every candidate scored on a validation split; slower)"
    )

    def clean(self):
        data = super().clean()
        for name in self.NUMBERS:
            if data.get(name) is None:
                continue
            try:
                params_resolve({name: data[name]})
            except ParamsError as error:
                self.add_error(name, f"{error}.")
        return data

    def params(self) -> dict:
        """The parameters given (the run records them as requested), for ``model_run_start``."""
        params = {name: self.cleaned_data[name] for name in self.NUMBERS if self.cleaned_data.get(name) is not None}
        if self.cleaned_data.get("grid"):
            params["grid"] = True
        return params

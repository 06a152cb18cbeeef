"""The staff actions' forms: each refuses bad input with a message on the system page, and a
refused action starts nothing."""

from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from catalog.models import ImportRun
from recommender.models import ModelRun
from system.forms import ImportStartForm, SyntheticGenerateForm, TrainingStartForm

ROOT = Path(__file__).resolve().parents[2]


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"rank": "lots"}, "rank must be a whole number"),
        ({"rank": "0"}, "rank must be between 1 and 500, not 0"),
        ({"iterations": "201"}, "iterations must be between 1 and 200"),
        ({"reg": "-0.5"}, "reg must be between"),
        ({"alpha": "nan"}, "alpha must be a number"),
        ({"rank": "8.5"}, "rank must be a whole number"),
        ({"rank": "\uff18"}, "rank must be a whole number"),  # fullwidth 8
        ({"iterations": "\u00b2"}, "iterations must be a whole number"),  # superscript 2
        ({"reg": "\u0660.\u0665"}, "reg must be a number"),  # Arabic-Indic 0.5
        ({"alpha": "1_0"}, "alpha must be a number"),
    ],
)
def test_a_bad_training_parameter_is_refused_and_nothing_is_queued(
    db, staff_user, client, django_capture_on_commit_callbacks, data, expected
):
    client.force_login(staff_user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("system:train_start"), data)

    assert response.status_code == 302 and response["Location"] == "/system/#recommender"
    shown = _messages(response)
    assert any(message.startswith("Training not started: ") and expected in message for message in shown), shown
    assert not ModelRun.objects.exists() and not callbacks
    page = client.get(response["Location"]).content.decode()
    assert expected in page  # shown on the system page


def test_training_form_passes_only_the_parameters_given():
    form = TrainingStartForm({"rank": "16", "reg": "0.05", "iterations": "", "grid": "1"})
    assert form.is_valid(), form.errors
    assert form.params() == {"rank": 16, "reg": 0.05, "grid": True}
    blank = TrainingStartForm({})
    assert blank.is_valid() and blank.params() == {}


def test_import_form_checks_the_source_and_the_directory():
    unknown = ImportStartForm({"source": "<script>"})
    assert not unknown.is_valid()
    assert unknown.error_texts() == ["Unknown import source '<script>': choose one of sample, directory, download."]
    missing = ImportStartForm({"source": "directory", "directory": ""})
    assert not missing.is_valid() and missing.error_texts() == ["Give the directory on the server to import."]
    chosen = ImportStartForm({"source": "directory", "directory": "/data/imdb", "files": ["title.ratings", ""]})
    assert chosen.is_valid() and chosen.cleaned_data["files"] == ["title.ratings"]


def test_a_refused_import_shows_the_form_error_and_records_nothing(db, staff_user, client):
    client.force_login(staff_user)
    response = client.post(reverse("system:import_start"), {"source": "directory"})
    assert response["Location"] == "/system/#catalog"
    assert _messages(response) == ["Import not started: Give the directory on the server to import."]
    assert not ImportRun.objects.exists()


def test_synthetic_form_errors_name_the_field():
    form = SyntheticGenerateForm({"users": "0", "seed": "x"})
    assert not form.is_valid()
    assert form.error_texts() == [
        "Users: Ensure this value is greater than or equal to 1.",
        "Seed: Enter a whole number.",
    ]


def test_the_staff_urls_keep_their_paths():
    assert reverse("system:index") == "/system/"
    assert reverse("system:models") == "/system/models/"
    assert reverse("system:import_start") == "/system/catalog/import/"
    assert reverse("system:import_progress", args=[3]) == "/system/catalog/import/3/progress/"
    assert reverse("system:synthetic_generate") == "/system/ratings/synthetic/generate/"
    assert reverse("system:synthetic_remove") == "/system/ratings/synthetic/remove/"
    assert reverse("system:synthetic_progress", args=[5]) == "/system/ratings/synthetic/5/progress/"
    assert reverse("system:train_start") == "/system/recommender/train/"
    assert reverse("system:train_progress", args=[4]) == "/system/recommender/train/4/progress/"


@pytest.mark.parametrize("app", ["accounts", "catalog", "ratings", "recommender"])
def test_no_app_imports_the_system_app(app):
    # The system app sits on top of the others; an import the other way would make a cycle.
    importers = [
        str(path.relative_to(ROOT))
        for path in (ROOT / app).rglob("*.py")
        if any(
            line.strip().startswith(("from system.", "from system import", "import system"))
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert importers == []

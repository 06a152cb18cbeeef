"""Extension points: lower apps' pages filled by the apps above (was ratings' ``optional_include``)."""

from django.test import RequestFactory

from imdbrec.extensions import ExtensionPoint, Section, stylesheets_of


def test_providers_are_called_in_order_and_nones_are_left_out():
    point = ExtensionPoint("probe")

    def first(*, value):
        return value + 1

    def skipped(*, value):
        return None

    point.register(first)
    point.register(skipped)
    point.register(first)  # registered once
    point.register(lambda *, value: value * 10)
    assert point.collect(value=2) == [3, 20]


def test_a_section_renders_its_template_with_the_request_context(tmp_path, settings):
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "_present.html").write_text("{{ word }} for {{ request.path }}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    request = RequestFactory().get("/somewhere/")
    section = Section("probe/_present.html", request, {"word": "<quality>"}, stylesheets=("css/a.css",))
    assert str(section) == "&lt;quality&gt; for /somewhere/"
    other = Section("probe/_present.html", request, stylesheets=("css/b.css", "css/a.css"))
    assert stylesheets_of([section, other]) == ["css/a.css", "css/b.css"]

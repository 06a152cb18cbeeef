"""IMDb "Your Ratings" CSV import: score rule, report, and all-or-nothing refusal of bad files."""

import datetime as dt
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from ratings.imdb_csv import imdb_score_to_stars, ratings_import_imdb_csv
from ratings.models import Rating
from recommender.models import UserFoldIn

pytestmark = pytest.mark.django_db


HEADER = (
    "Const,Your Rating,Date Rated,Title,URL,Title Type,IMDb Rating,Runtime (mins),Year,Genres,Num Votes,"
    "Release Date,Directors"
)


def row(tconst, score, date="2023-06-01", title="Some Film"):
    return (
        f'{tconst},{score},{date},"{title}",https://www.imdb.com/title/{tconst}/,Movie,7.9,120,1999,'
        f'"Drama, Thriller",12345,1999-03-31,"Someone, Else"'
    )


def csv_file(*lines, header=HEADER, name="ratings.csv", encoding="utf-8") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, ("\n".join([header, *lines]) + "\n").encode(encoding), content_type="text/csv")


@pytest.fixture
def catalogue(title_factory):
    return {tconst: title_factory(tconst=tconst) for tconst in ("tt0000101", "tt0000102", "tt0000103", "tt0000104")}


@pytest.mark.parametrize(
    ("imdb", "stars"), [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (6, 3), (7, 4), (8, 4), (9, 5), (10, 5)]
)
def test_score_rule_is_ceil_of_half(imdb, stars):
    assert imdb_score_to_stars(imdb) == stars


@pytest.mark.parametrize("imdb", [0, 11, -3])
def test_score_rule_refuses_out_of_range(imdb):
    with pytest.raises(ValueError):
        imdb_score_to_stars(imdb)


def test_import_reports_created_updated_unchanged_and_unmatched(member, catalogue):
    Rating.objects.create(user=member, title=catalogue["tt0000102"], score=1)  # will change to 4
    Rating.objects.create(user=member, title=catalogue["tt0000103"], score=5)  # 10 -> 5: unchanged
    Rating.objects.create(user=member, title=catalogue["tt0000104"], score=2)  # not in the file: untouched
    UserFoldIn.objects.create(user=member, stale=False)
    upload = csv_file(
        row("tt0000101", 9, "2021-02-03", "New One"),
        row("tt0000102", 8, "2022-07-08"),
        row("tt0000103", 10),
        row("tt7777777", 6, title="Not Here, With Comma"),
        row("tt7777778", 1, title="Also Missing"),
    )
    report = ratings_import_imdb_csv(user=member, upload=upload)
    assert (report.rows, report.created, report.updated, report.unchanged) == (5, 1, 1, 1)
    assert report.matched == 3
    assert [(r.line, r.tconst, r.title) for r in report.unmatched] == [
        (5, "tt7777777", "Not Here, With Comma"),
        (6, "tt7777778", "Also Missing"),
    ]
    scores = dict(Rating.objects.filter(user=member).values_list("title_id", "score"))
    assert scores == {"tt0000101": 5, "tt0000102": 4, "tt0000103": 5, "tt0000104": 2}
    created = Rating.objects.get(user=member, title_id="tt0000101")
    assert created.created_at == created.updated_at == dt.datetime(2021, 2, 3, 12, tzinfo=dt.UTC)
    updated = Rating.objects.get(user=member, title_id="tt0000102")
    assert updated.updated_at == dt.datetime(2022, 7, 8, 12, tzinfo=dt.UTC)
    assert UserFoldIn.objects.get(user=member).stale is True


def test_reimporting_the_same_file_changes_nothing(member, catalogue):
    lines = [row("tt0000101", 7), row("tt0000102", 4)]
    ratings_import_imdb_csv(user=member, upload=csv_file(*lines))
    UserFoldIn.objects.update_or_create(user=member, defaults={"stale": False})
    report = ratings_import_imdb_csv(user=member, upload=csv_file(*lines))
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert UserFoldIn.objects.get(user=member).stale is False


def test_import_accepts_bom_crlf_extra_columns_and_other_column_order(member, catalogue):
    header = "Const,Original Title,Your Rating,Date Rated,Title,URL,Title Type,IMDb Rating,Runtime (mins),Year,Genres,Num Votes,Release Date,Directors"
    body = (
        "\r\n".join(
            [
                header,
                'tt0000101,"Orig",3,2020-01-01,"A",https://x/,Movie,7,90,1990,Drama,10,1990-01-01,"D"',
            ]
        )
        + "\r\n"
    )
    upload = SimpleUploadedFile("ratings.csv", "\ufeff".encode() + body.encode(), content_type="text/csv")
    report = ratings_import_imdb_csv(user=member, upload=upload)
    assert report.created == 1
    assert Rating.objects.get(user=member).score == 2


def test_other_users_are_untouched(member, user_factory, catalogue):
    other = user_factory()
    Rating.objects.create(user=other, title=catalogue["tt0000101"], score=1)
    ratings_import_imdb_csv(user=member, upload=csv_file(row("tt0000101", 10)))
    assert Rating.objects.get(user=other).score == 1


BAD_FILES = {
    "wrong header": (csv_file(row("tt0000101", 7), header="id,score,date"), "not an IMDb ratings export"),
    "missing column": (
        csv_file("tt0000101,7,2020-01-01", header="Const,Your Rating,Date Rated"),
        "missing: Title, URL",
    ),
    "score 0": (csv_file(row("tt0000101", 0)), "Your Rating “0” is not a whole number from 1 to 10"),
    "score 11": (csv_file(row("tt0000101", 11)), "Your Rating “11” is not a whole number from 1 to 10"),
    "score 7.5": (csv_file(row("tt0000101", "7.5")), "Your Rating “7.5”"),
    "score blank": (csv_file(row("tt0000101", "")), "Your Rating “”"),
    "score text": (csv_file(row("tt0000101", "good")), "Your Rating “good”"),
    # str.isdigit() accepts these and int() refuses them (they were HTTP 500s) ...
    "score superscript two": (csv_file(row("tt0000101", "²")), "Your Rating “²” is not a whole number"),
    "score circled one": (csv_file(row("tt0000101", "①")), "Your Rating “①” is not a whole number"),
    "score superscript ten": (csv_file(row("tt0000101", "¹⁰")), "Your Rating “¹⁰” is not a whole number"),
    # ... and int() reads these as 8: only ASCII digits are numbers.
    "score fullwidth eight": (csv_file(row("tt0000101", "８")), "Your Rating “８” is not a whole number"),
    "score arabic-indic eight": (csv_file(row("tt0000101", "٨")), "Your Rating “٨” is not a whole number"),
    "bad date": (csv_file(row("tt0000101", 7, "31/12/2020")), "Date Rated “31/12/2020” is not a date"),
    "bad const": (csv_file(row("nm0000001", 7)), "Const “nm0000001” is not an IMDb title id"),
    "duplicate": (
        csv_file(row("tt0000101", 7), row("tt0000101", 3)),
        "line 3: tt0000101 is rated again (first on line 2)",
    ),
    "short row": (csv_file("tt0000101,7,2020-01-01"), "line 2: 3 columns, the header has 13"),
    "empty": (SimpleUploadedFile("ratings.csv", b"", content_type="text/csv"), "The file is empty"),
    "header only": (csv_file(), "a header but no ratings"),
    "binary": (
        SimpleUploadedFile("ratings.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", content_type="image/png"),
        "not a CSV text file",
    ),
    "latin-1": (csv_file(row("tt0000101", 7, title="Amélie"), encoding="latin-1"), "not UTF-8 text"),
    "broken quoting": (csv_file('tt0000101,7,2020-01-01,"Unclosed,x,Movie'), "not valid CSV"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_malformed_files_change_nothing(member, catalogue, case):
    Rating.objects.create(user=member, title=catalogue["tt0000104"], score=3)
    UserFoldIn.objects.create(user=member, stale=False)
    upload, message = BAD_FILES[case]
    upload.seek(0)
    # A good row before the bad one must not be written either.
    with pytest.raises(ValidationError) as raised:
        ratings_import_imdb_csv(user=member, upload=upload)
    assert message in " ".join(raised.value.messages), raised.value.messages
    assert dict(Rating.objects.filter(user=member).values_list("title_id", "score")) == {"tt0000104": 3}
    assert UserFoldIn.objects.get(user=member).stale is False


def test_a_bad_row_after_good_rows_rolls_back_everything(member, catalogue):
    upload = csv_file(row("tt0000101", 7), row("tt0000102", 8), row("tt0000103", 42))
    with pytest.raises(ValidationError) as raised:
        ratings_import_imdb_csv(user=member, upload=upload)
    assert raised.value.messages[0] == "The file has 1 bad row; nothing was imported."
    assert not Rating.objects.exists()


def test_many_bad_rows_are_summarised(member, catalogue):
    upload = csv_file(*[row(f"tt{n:07d}", 0) for n in range(1, 31)])
    with pytest.raises(ValidationError) as raised:
        ratings_import_imdb_csv(user=member, upload=upload)
    messages = raised.value.messages
    assert messages[0] == "The file has 30 bad rows; nothing was imported."
    assert len(messages) == 1 + 20 + 1 and messages[-1] == "… and 10 more."


def test_too_large_file_is_refused(member, catalogue, settings):
    settings.MAX_RATINGS_UPLOAD_BYTES = 200
    upload = csv_file(row("tt0000101", 7), row("tt0000102", 7))
    assert upload.size > 200
    with pytest.raises(ValidationError, match="limit is 200"):
        ratings_import_imdb_csv(user=member, upload=upload)
    # A stream without a size is cut at the limit too.
    with pytest.raises(ValidationError, match="larger than the limit"):
        ratings_import_imdb_csv(user=member, upload=io.BytesIO(upload.read()))
    assert not Rating.objects.exists()


def test_upload_page_shows_the_report(member_client, member, catalogue):
    page = member_client.get("/me/import/").content.decode()
    assert "ceil(IMDb score ÷ 2)" in page
    response = member_client.post(
        "/me/import/", {"file": csv_file(row("tt0000101", 9), row("tt9999991", 5, title="Elsewhere"))}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert '<dd id="report-matched">1</dd>' in html
    assert '<dd id="report-created">1</dd>' in html
    assert '<dd id="report-unmatched">1</dd>' in html
    assert "Elsewhere" in html and "tt9999991" in html
    assert Rating.objects.get(user=member).score == 5


def test_upload_page_shows_errors_and_changes_nothing(member_client, member, catalogue):
    response = member_client.post("/me/import/", {"file": csv_file(row("tt0000101", 9), row("tt0000102", "x"))})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="import-errors"' in html
    assert "nothing was imported" in html and "line 3: Your Rating “x”" in html
    assert not Rating.objects.exists()


def test_upload_page_refuses_large_files_before_reading(member_client, settings):
    settings.MAX_RATINGS_UPLOAD_BYTES = 100
    # Far bigger bodies are refused earlier by imdbrec.middleware (413); this checks the form's own limit.
    settings.MAX_REQUEST_BODY_BYTES = 100_000
    response = member_client.post("/me/import/", {"file": csv_file(row("tt0000101", 9), row("tt0000102", 9))})
    assert response.status_code == 400
    assert "the limit is 100" in response.content.decode()


def test_upload_page_without_a_file(member_client):
    response = member_client.post("/me/import/", {})
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()


@pytest.mark.parametrize("score", ["²", "①", "¹⁰", "８", "٨"])
def test_upload_page_refuses_non_ascii_scores_with_a_message(member_client, member, catalogue, score):
    response = member_client.post("/me/import/", {"file": csv_file(row("tt0000101", score))})
    assert response.status_code == 400
    assert f"Your Rating “{score}” is not a whole number from 1 to 10" in response.content.decode()
    assert not Rating.objects.filter(user=member).exists()


@pytest.mark.parametrize("date", ["0001-01-01", "1873-12-31", "9999-12-31", "2999-01-01"])
def test_implausible_dates_are_refused(member, catalogue, date):
    with pytest.raises(ValidationError) as refused:
        ratings_import_imdb_csv(user=member, upload=csv_file(row("tt0000101", 8), row("tt0000102", 7, date)))
    assert any(f"line 3: Date Rated “{date}” is not a plausible date" in message for message in refused.value.messages)
    assert not Rating.objects.filter(user=member).exists()


def test_the_first_film_and_today_are_plausible(member, catalogue):
    today = dt.datetime.now(dt.UTC).date().isoformat()
    report = ratings_import_imdb_csv(
        user=member, upload=csv_file(row("tt0000101", 8, "1874-01-01"), row("tt0000102", 7, today))
    )
    assert report.created == 2


def test_a_file_over_the_row_limit_is_refused_with_a_message(member, catalogue, settings):
    settings.MAX_RATINGS_IMPORT_ROWS = 3
    lines = [row(f"tt00001{n:02d}", 7) for n in range(4)]
    with pytest.raises(ValidationError) as refused:
        ratings_import_imdb_csv(user=member, upload=csv_file(*lines))
    assert refused.value.messages == [
        "The file has more than 3 ratings; the limit is 3 per import. Split it into smaller files. "
        "Nothing was imported."
    ]
    assert ratings_import_imdb_csv(user=member, upload=csv_file(*lines[:3])).rows == 3


def test_the_upload_page_says_why_a_big_file_is_refused(member_client, settings):
    settings.MAX_RATINGS_IMPORT_ROWS = 2
    upload = csv_file(*[row(f"tt00001{n:02d}", 7) for n in range(3)])
    response = member_client.post("/me/import/", {"file": upload})
    assert response.status_code == 400
    assert "more than 2 ratings; the limit is 2 per import" in response.content.decode()


def test_a_file_with_far_too_many_lines_is_refused_before_it_is_parsed(member, settings):
    settings.MAX_RATINGS_IMPORT_ROWS = 3
    lines = [f"tt9{number:07d},7,not-a-date" for number in range(1100)]  # never parsed: no row errors
    with pytest.raises(ValidationError) as refused:
        ratings_import_imdb_csv(user=member, upload=csv_file(*lines))
    assert refused.value.messages == [
        "The file has more than 3 ratings; the limit is 3 per import. Split it into smaller files. "
        "Nothing was imported."
    ]

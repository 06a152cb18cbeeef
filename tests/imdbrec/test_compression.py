"""HTML is sent gzipped (GZipMiddleware); see the BREACH note beside it in imdbrec/settings/base.py."""

import gzip

import pytest


@pytest.mark.django_db
def test_pages_are_gzipped_for_clients_that_accept_it(client, member):
    client.force_login(member)
    response = client.get("/", HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip" and "Accept-Encoding" in response["Vary"]
    html = gzip.decompress(response.content).decode()
    assert "Skip to main content" in html
    # BREACH: the CSRF token in a page is masked afresh in every response, so no secret repeats.
    again = gzip.decompress(client.get("/", HTTP_ACCEPT_ENCODING="gzip").content).decode()
    token = html.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    assert token not in again


@pytest.mark.django_db
def test_pages_are_plain_for_clients_that_do_not(client):
    response = client.get("/")
    assert response.status_code == 200 and not response.has_header("Content-Encoding")

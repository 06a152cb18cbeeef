import pytest
from django.urls import reverse


@pytest.mark.celery_worker
def test_health_is_200_when_everything_is_up(client, celery_worker_process):
    response = client.get("/health/")
    body = response.json()
    assert response.status_code == 200, body
    assert body["ok"] is True
    assert body["components"]["database"]["ok"]
    assert body["components"]["redis"]["ok"]
    assert "spark" in body["components"]["celery"]["queues"]
    assert body["components"]["spark"]["pyspark"] is True


def test_health_names_redis_and_celery_when_the_broker_is_wrong(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert "redis" in body["failing"] and "celery" in body["failing"]
    assert "database" not in body["failing"]
    assert "Connection" in body["components"]["redis"]["error"]


def test_system_page_is_staff_only(client, user_factory, staff_user):
    url = reverse("system:index")
    assert client.get(url).status_code == 302  # anonymous: to the login page
    user = user_factory()
    client.force_login(user)
    assert client.get(url).status_code == 403
    client.force_login(staff_user)
    response = client.get(url)
    assert response.status_code == 200
    assert b"Health" in response.content


def test_unknown_page_renders_the_404_template(client, db):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"nothing here" in response.content

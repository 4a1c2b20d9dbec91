"""The notifications API: each user's own, marking read, and its place in the schema."""

from __future__ import annotations

import pytest

from apps.notifications.models import Notification
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db


def test_lists_only_the_users_own(owner_api, owner, other_user):
    mine = NotificationFactory(user=owner, title="Yours")
    NotificationFactory(user=other_user, title="Theirs")
    response = owner_api.get("/api/notifications/")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [mine.pk]
    row = response.json()["results"][0]
    assert row["title"] == "Yours" and row["is_read"] is False and row["url"] == "/artifacts/1/"


def test_filters_unread(owner_api, owner):
    unread = NotificationFactory(user=owner)
    read = NotificationFactory(user=owner)
    read.mark_read()
    response = owner_api.get("/api/notifications/", {"unread": "true"})
    assert [row["id"] for row in response.json()["results"]] == [unread.pk]
    response = owner_api.get("/api/notifications/", {"unread": "false"})
    assert [row["id"] for row in response.json()["results"]] == [read.pk]


def test_marks_one_read(owner_api, owner):
    notification = NotificationFactory(user=owner)
    response = owner_api.post(f"/api/notifications/{notification.pk}/read/")
    assert response.status_code == 200 and response.json()["is_read"] is True
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_marks_all_read(owner_api, owner, other_user):
    NotificationFactory.create_batch(2, user=owner)
    theirs = NotificationFactory(user=other_user)
    response = owner_api.post("/api/notifications/read-all/")
    assert response.status_code == 200 and response.json() == {"marked": 2}
    assert not Notification.objects.filter(user=owner).unread().exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None


@pytest.mark.parametrize("method,suffix", [("get", ""), ("post", "read/")])
def test_other_user_gets_404(other_api, owner, method, suffix):
    notification = NotificationFactory(user=owner)
    response = getattr(other_api, method)(f"/api/notifications/{notification.pk}/{suffix}")
    assert response.status_code == 404
    notification.refresh_from_db()
    assert notification.read_at is None


def test_staff_see_only_their_own_too(staff_api, owner):
    NotificationFactory(user=owner)
    assert staff_api.get("/api/notifications/").json()["results"] == []


def test_anonymous_is_refused(api_client):
    assert api_client.get("/api/notifications/").status_code in {401, 403}


def test_the_schema_has_the_endpoints(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert "get" in paths["/api/notifications/"]
    assert "post" in paths["/api/notifications/{id}/read/"]
    assert "post" in paths["/api/notifications/read-all/"]

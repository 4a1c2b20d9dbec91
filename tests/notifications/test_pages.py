"""The notifications page and the bell: each user's own, marking read, and links."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.notifications.models import Notification
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db

LIST = reverse("notifications:notification_list")
COUNT = {"HX-Request": "true", "HX-Target": "notification-count"}
MENU = {
    "HX-Request": "true",
    "HX-Target": "notification-menu",
    "HX-Current-URL": "http://testserver/artifacts/?q=orders",
}


def test_the_page_lists_the_users_own_notifications(client, owner, other_user):
    NotificationFactory(user=owner, title="Orders by status refreshed")
    NotificationFactory(user=other_user, title="Someone else's alert")
    client.force_login(owner)
    response = client.get(LIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Orders by status refreshed" in content
    assert "Someone else&#x27;s alert" not in content and "Someone else" not in content


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(LIST)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("action", ["notification_open", "notification_read"])
def test_other_user_gets_404(client, owner, other_user, action):
    notification = NotificationFactory(user=owner)
    client.force_login(other_user)
    response = client.post(reverse(f"notifications:{action}", args=[notification.pk]))
    assert response.status_code == 404
    notification.refresh_from_db()
    assert notification.read_at is None


def test_staff_get_404_for_someone_elses_notification_too(client, owner, staff):
    notification = NotificationFactory(user=owner)
    client.force_login(staff)
    response = client.post(reverse("notifications:notification_open", args=[notification.pk]))
    assert response.status_code == 404


def test_opening_marks_read_and_goes_to_what_it_is_about(client, owner):
    notification = NotificationFactory(user=owner, url="/artifacts/12/")
    client.force_login(owner)
    response = client.post(reverse("notifications:notification_open", args=[notification.pk]))
    assert response.status_code == 302 and response["Location"] == "/artifacts/12/"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_opening_one_without_a_link_goes_to_the_list(client, owner):
    notification = NotificationFactory(user=owner, url="")
    client.force_login(owner)
    response = client.post(reverse("notifications:notification_open", args=[notification.pk]))
    assert response["Location"] == LIST


def test_mark_read_comes_back_to_the_page(client, owner):
    notification = NotificationFactory(user=owner)
    client.force_login(owner)
    response = client.post(
        reverse("notifications:notification_read", args=[notification.pk]),
        {"next": f"{LIST}?page=2"},
    )
    assert response["Location"] == f"{LIST}?page=2"
    assert Notification.objects.get(pk=notification.pk).is_read


def test_mark_read_never_sends_elsewhere(client, owner):
    notification = NotificationFactory(user=owner)
    client.force_login(owner)
    response = client.post(
        reverse("notifications:notification_read", args=[notification.pk]),
        {"next": "https://evil.example/"},
    )
    assert response["Location"] == LIST


def test_mark_all_read_marks_only_the_users_own(client, owner, other_user):
    NotificationFactory.create_batch(3, user=owner)
    theirs = NotificationFactory(user=other_user)
    client.force_login(owner)
    response = client.post(reverse("notifications:notification_read_all"))
    assert response.status_code == 302
    assert not Notification.objects.filter(user=owner).unread().exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_the_unread_tab_shows_only_unread(client, owner):
    NotificationFactory(user=owner, title="Still new")
    read = NotificationFactory(user=owner, title="Seen already")
    read.mark_read()
    client.force_login(owner)
    content = client.get(LIST, {"show": "unread"}).content.decode()
    assert "Still new" in content and "Seen already" not in content
    assert "Unread (1)" in content


def test_the_list_is_paged(client, owner):
    NotificationFactory.create_batch(30, user=owner)
    client.force_login(owner)
    first = client.get(LIST).content.decode()
    second = client.get(LIST, {"page": 2}).content.decode()
    assert first.count("data-notification=") == 25
    assert second.count("data-notification=") == 5


def test_every_page_has_the_bell_but_loads_its_count_later(client, owner):
    NotificationFactory(user=owner)
    client.force_login(owner)
    content = client.get(reverse("llm_chat:chat_list")).content.decode()
    assert 'id="notification-count"' in content
    assert f'hx-get="{LIST}"' in content and 'hx-trigger="load, every 45s"' in content
    # Without JavaScript the bell is a link to the page.
    assert f'id="notification-bell" href="{LIST}"' in content
    assert "data-unread-count" not in content


def test_the_bell_counts_unread_notifications(client, owner, other_user):
    NotificationFactory.create_batch(3, user=owner)
    NotificationFactory(user=owner).mark_read()
    NotificationFactory(user=other_user)
    client.force_login(owner)
    response = client.get(LIST, headers=COUNT)
    assert response.status_code == 200
    content = response.content.decode()
    assert 'data-unread-count="3"' in content
    assert "<h1" not in content  # the badge alone
    assert "HX-Target" in response["Vary"]


def test_the_bell_says_99_plus_beyond(client, owner):
    NotificationFactory.create_batch(101, user=owner)
    client.force_login(owner)
    content = client.get(LIST, headers=COUNT).content.decode()
    assert ">99+<" in content


def test_the_bell_shows_nothing_when_all_are_read(client, owner):
    NotificationFactory(user=owner).mark_read()
    client.force_login(owner)
    assert client.get(LIST, headers=COUNT).content.decode().strip() == ""


def test_the_bells_count_costs_few_queries(client, owner, django_assert_max_num_queries):
    NotificationFactory.create_batch(20, user=owner)
    client.force_login(owner)
    with django_assert_max_num_queries(3):  # session, user, count
        client.get(LIST, headers=COUNT)


def test_the_bells_menu_lists_the_latest(client, owner, other_user):
    for n in range(8):
        NotificationFactory(user=owner, title=f"Alert number {n}")
    NotificationFactory(user=other_user, title="Not yours")
    client.force_login(owner)
    content = client.get(LIST, headers=MENU).content.decode()
    assert "Alert number 7" in content and "Alert number 2" in content
    assert "Alert number 1" not in content  # six of them
    assert "Not yours" not in content
    # "Mark all read" comes back to the page the bell is on.
    assert 'name="next" value="/artifacts/?q=orders"' in content
    assert "All notifications" in content

"""notify_in_app: one notification per user and key."""

from __future__ import annotations

import pytest

from apps.notifications.models import Notification
from apps.notifications.services import notify_in_app

pytestmark = pytest.mark.django_db


def test_notifies_once_per_key(owner):
    first = notify_in_app(
        owner, key="alert:1:run:7", title="Cancelled orders above 10", url="/artifacts/3/"
    )
    again = notify_in_app(owner, key="alert:1:run:7", title="Cancelled orders above 10")
    assert first is not None and first.title == "Cancelled orders above 10"
    assert again is None
    assert Notification.objects.filter(user=owner).count() == 1


def test_the_same_key_for_another_user_is_their_own_notification(owner, other_user):
    assert notify_in_app(owner, key="digest:5", title="Weekly orders")
    assert notify_in_app(other_user, key="digest:5", title="Weekly orders")
    assert Notification.objects.count() == 2


def test_a_link_elsewhere_is_refused(owner):
    with pytest.raises(ValueError):
        notify_in_app(owner, key="k", title="t", url="https://evil.example/")
    with pytest.raises(ValueError):
        notify_in_app(owner, key="k", title="t", url="//evil.example/")
    assert not Notification.objects.exists()


def test_a_long_title_is_shortened_not_refused(owner):
    notification = notify_in_app(owner, key="k", title="word " * 100)
    assert len(notification.title) <= 200

"""A refresh tells each subscriber in their own language: their profile's, else the default."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone, translation

from apps.accounts.models import Profile
from apps.notifications.models import Notification
from apps.schedules import services
from apps.schedules.models import Schedule
from tests.conftest import share
from tests.schedules.factories import AlertFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_afterwards():
    """A request in Russian leaves Russian active on the thread: later tests expect English."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def refresh(schedule: Schedule) -> None:
    due = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    services.refresh_schedule(schedule.pk, due)


@pytest.fixture
def readers(schedule, owner, team, group_viewer):
    """The owner reads Russian; a group viewer has no profile (the default, English)."""
    Profile.objects.create(user=owner, language="ru")
    share(schedule.artifact, team)
    return owner, group_viewer


def test_one_refresh_tells_a_russian_and_an_english_subscriber_each_in_their_language(
    schedule, readers
):
    russian, english = readers
    alert = AlertFactory(schedule=schedule, name="Cancelled orders")
    for user in readers:
        SubscriptionFactory(alert=alert, user=user, channel="in_app")
        SubscriptionFactory(alert=alert, user=user, channel="email")

    refresh(schedule)

    in_russian = Notification.objects.get(user=russian)
    assert in_russian.title == "Оповещение Cancelled orders: Orders by status"
    in_english = Notification.objects.get(user=english)
    assert in_english.title == "Alert Cancelled orders: Orders by status"
    emails = {email.to[0]: email for email in mail.outbox}
    assert set(emails) == {russian.email, english.email}
    assert emails[russian.email].subject == "Оповещение Cancelled orders: Orders by status"
    assert "Сработало оповещение «Cancelled orders»" in emails[russian.email].body
    assert "The alert “Cancelled orders” on “Orders by status” fired." in (
        emails[english.email].body
    )
    # The attachment is a machine format, the same for both.
    csvs = {
        email.to[0]: dict((n, c) for n, c, _ in email.attachments)["result.csv"]
        for email in mail.outbox
    }
    assert csvs[russian.email] == csvs[english.email]


def test_the_reason_an_alert_fired_is_in_each_language(schedule, readers):
    russian, english = readers
    alert = AlertFactory(schedule=schedule, condition="has_rows", name="Any orders")
    for user in readers:
        SubscriptionFactory(alert=alert, user=user, channel="in_app")

    with translation.override("en"):
        refresh(schedule)

    assert Notification.objects.get(user=russian).body.endswith("строк.")
    assert Notification.objects.get(user=english).body.endswith("rows.")
    alert.refresh_from_db()
    assert alert.last_outcome.endswith("rows.")


def test_a_paused_schedule_tells_its_russian_owner_in_russian(schedule, owner, settings):
    Profile.objects.create(user=owner, language="ru")
    schedule.artifact.sql_query = "SELECT missing_column FROM orders"
    schedule.artifact.save()
    for minutes in (3, 2, 1):
        due = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=minutes)
        services.refresh_schedule(schedule.pk, due)

    schedule.refresh_from_db()
    assert schedule.paused_reason.startswith("Paused after 3 failed refreshes")
    notification = Notification.objects.get(user=owner)
    assert notification.title == "Расписание приостановлено: Orders by status"
    assert notification.body.startswith("Приостановлено после 3 неудачных обновлений подряд.")
    [email] = mail.outbox
    assert email.subject == "Расписание приостановлено: Orders by status"

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from apps.notifications.models import Notification
from tests.conftest import UserFactory


class NotificationFactory(DjangoModelFactory):
    class Meta:
        model = Notification

    user = factory.SubFactory(UserFactory)
    key = factory.Sequence(lambda n: f"test:{n}")
    title = factory.Sequence(lambda n: f"Cancelled orders above {n}")
    body = "12 cancelled orders since yesterday."
    url = "/artifacts/1/"

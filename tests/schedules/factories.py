from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from apps.schedules.models import Alert, Schedule, Subscription
from tests.llm_artifact.factories import ArtifactFactory

ORDERS_BY_STATUS = (
    "SELECT status, COUNT(*) AS orders FROM orders WHERE ordered_at >= :since "
    "GROUP BY status ORDER BY status"
)


class ScheduleFactory(DjangoModelFactory):
    class Meta:
        model = Schedule

    artifact = factory.SubFactory(
        ArtifactFactory,
        sql_query=ORDERS_BY_STATUS,
        query_params=[{"name": "since", "type": "date", "default": "2024-01-01"}],
    )
    owner = factory.SelfAttribute("artifact.owner")
    kind = Schedule.Kind.EVERY_MINUTES
    every_minutes = 1
    params = factory.LazyFunction(dict)


class AlertFactory(DjangoModelFactory):
    class Meta:
        model = Alert

    schedule = factory.SubFactory(ScheduleFactory)
    owner = factory.SelfAttribute("schedule.owner")
    name = "Cancelled orders"
    condition = Alert.Condition.THRESHOLD
    column = "orders"
    operator = ">"
    threshold = 0
    filter_column = "status"
    filter_value = "cancelled"


class SubscriptionFactory(DjangoModelFactory):
    class Meta:
        model = Subscription

    alert = factory.SubFactory(AlertFactory)
    user = factory.SelfAttribute("alert.owner")
    channel = Subscription.Channel.IN_APP

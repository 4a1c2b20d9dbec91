from __future__ import annotations

import pytest

from apps.datasources.schema import clear_schema_cache
from tests.datasources import sample
from tests.schedules.factories import ScheduleFactory
from tests.schedules.receiver import Receiver


@pytest.fixture(autouse=True)
def marketplace(tmp_path, settings):
    """The sample shop as the `marketplace` source: 10 orders, one of them cancelled."""
    path = sample.use_sqlite(tmp_path, settings)
    clear_schema_cache()
    settings.SCHEDULE_MAX_FAILURES = 3
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return path


@pytest.fixture
def schedule(owner):
    return ScheduleFactory(artifact__owner=owner, artifact__title="Orders by status")


@pytest.fixture
def receiver(settings):
    """A webhook receiver on loopback, allowed by the test settings (never in production)."""
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOKS_ALLOW_HTTP = True
    server = Receiver()
    yield server
    server.close()

"""A source's background time limit (`?background_timeout=`) and stopping a query from
another thread (QueryInterrupt): what background runs and exports rely on."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.datasources.executor import (
    STOPPED_MESSAGE,
    QueryFailed,
    QueryInterrupt,
    execute,
    stream,
)
from apps.datasources.sources import parse_data_sources
from tests.postgres import ShopDatabase

RUNAWAY = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
ENDLESS_ROWS = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r"


def test_background_timeout_is_read_from_the_url(settings):
    settings.DATA_SOURCE_BACKGROUND_TIMEOUT_SECONDS = 900
    sources = parse_data_sources(
        "a=sqlite:///a.db?timeout=5&background_timeout=120 b=sqlite:///b.db?timeout=5 "
        "c=sqlite:///c.db?timeout=30&background_timeout=10"
    )
    assert sources["a"].background_timeout_seconds == 120
    assert sources["b"].background_timeout_seconds == 900  # the setting's default
    # Never below the interactive limit: the background is for longer work.
    assert sources["c"].background_timeout_seconds == 30


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_a_malformed_background_timeout_is_refused(value):
    with pytest.raises(ImproperlyConfigured, match="'a'"):
        parse_data_sources(f"a=sqlite:///a.db?background_timeout={value}")


def stop_after(interrupt: QueryInterrupt, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, interrupt.request)
    timer.start()
    return timer


def test_a_sqlite_query_is_stopped_from_another_thread(shop_sqlite):
    interrupt = QueryInterrupt()
    stop_after(interrupt, 0.3)
    started = time.monotonic()
    with pytest.raises(QueryFailed) as caught:
        execute("shop", RUNAWAY, timeout=30, interrupt=interrupt)
    assert time.monotonic() - started < 5
    assert (caught.value.outcome, caught.value.message) == ("error", STOPPED_MESSAGE)
    # The source answers the next query as ever.
    assert execute("shop", "SELECT count(*) FROM orders").rows == [(10,)]


def test_a_sqlite_stream_stops_between_batches(shop_sqlite):
    interrupt = QueryInterrupt()
    with stream("shop", ENDLESS_ROWS, max_rows=10**9, timeout=30, interrupt=interrupt) as (
        _columns,
        batches,
    ):
        next(batches)
        interrupt.request()
        with pytest.raises(QueryFailed, match="stopped before it finished"):
            next(batches)


def test_a_stop_asked_before_the_query_starts_stops_it_at_once(shop_sqlite):
    interrupt = QueryInterrupt()
    interrupt.request()
    with pytest.raises(QueryFailed, match="stopped before it finished"):
        execute("shop", "SELECT count(*) FROM orders", interrupt=interrupt)


def test_the_background_limit_is_honoured_by_a_longer_timeout(shop_sqlite, settings):
    # The interactive limit stops it; the background one, asked by the caller, does too,
    # later, at its own limit.
    settings.DATA_SOURCES = f"shop=sqlite:///{shop_sqlite}?timeout=0.1&background_timeout=0.5"
    started = time.monotonic()
    with pytest.raises(QueryFailed, match=r"0\.5 s limit"):
        execute("shop", RUNAWAY, timeout=0.5)
    assert 0.4 < time.monotonic() - started < 3


@pytest.mark.postgres
def test_a_postgres_query_is_stopped_from_another_thread(postgres_sources: ShopDatabase):
    interrupt = QueryInterrupt()
    stop_after(interrupt, 0.5)
    started = time.monotonic()
    with pytest.raises(QueryFailed) as caught:
        execute("reader", RUNAWAY, timeout=30, interrupt=interrupt)
    assert time.monotonic() - started < 5
    assert (caught.value.outcome, caught.value.message) == ("error", STOPPED_MESSAGE)
    assert execute("reader", "SELECT count(*) FROM orders").rows == [(10,)]


@pytest.mark.postgres
def test_a_postgres_stream_is_stopped(postgres_sources: ShopDatabase):
    interrupt = QueryInterrupt()
    with stream("reader", ENDLESS_ROWS, max_rows=10**9, timeout=30, interrupt=interrupt) as (
        _columns,
        batches,
    ):
        next(batches)
        interrupt.request()
        with pytest.raises(QueryFailed, match="stopped before it finished"):
            next(batches)


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_export_is_counted_on_postgres_through_the_guard(postgres_sources, owner):
    # What decides whether a page's export goes to the background (services.count_rows):
    # the artifact's SQL, ORDER BY and a trailing comment included, wrapped in a COUNT(*).
    from apps.llm_artifact.services import count_rows
    from tests.llm_artifact.factories import ArtifactFactory

    artifact = ArtifactFactory(
        owner=owner,
        data_source="reader",
        sql_query="SELECT id, total FROM orders WHERE total >= :minimum ORDER BY id -- big ones",
        query_params=[{"name": "minimum", "type": "number", "default": 0}],
    )
    assert count_rows(artifact, {"minimum": 0}) == 10
    assert count_rows(artifact, {"minimum": 100}) < 10

"""State that survives: a good run keeps its first rows, the artifact page opens on them
without running the query, and the values of a run live in the URL, so a run can be shared
as a link and survives a reload."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.llm_artifact import services
from apps.llm_artifact.models import (
    KEPT_SNAPSHOTS,
    SNAPSHOT_MAX_BYTES,
    SNAPSHOT_MAX_ROWS,
    Artifact,
    ArtifactRun,
    result_snapshot,
)
from apps.llm_artifact.services import run_artifact
from tests.llm_artifact.factories import ArtifactFactory

HTMX = {"HX-Request": "true"}
BY_STATUS = "SELECT id, status, total FROM orders WHERE status = :status ORDER BY id"


@pytest.fixture
def orders(shop, owner) -> Artifact:
    return ArtifactFactory(
        owner=owner,
        title="Orders in a status",
        sql_query=BY_STATUS,
        query_params=[{"name": "status", "type": "string", "default": "delivered"}],
    )


@pytest.fixture
def no_queries(monkeypatch):
    """Any attempt to run the artifact's SQL fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the page ran the query")

    monkeypatch.setattr(services, "execute", refuse)


def statuses_shown(content: str) -> set[str]:
    return {status for status in ("delivered", "cancelled", "paid") if f">{status}</td>" in content}


def test_the_page_opens_on_the_latest_result_without_running_it(owner_client, orders, request):
    run_artifact(orders, user=None, raw_params={"status": "cancelled"})
    request.getfixturevalue("no_queries")

    content = owner_client.get(orders.get_absolute_url()).content.decode()

    assert ArtifactRun.objects.count() == 1
    assert "Result of the run at" in content
    assert '<code class="run-snapshot-params">status=cancelled</code>' in content
    assert statuses_shown(content) == {"cancelled"}
    assert 'name="status" value="cancelled"' in content  # the form shows its values
    assert "Run again" in content


def test_values_in_the_url_open_the_run_with_those_values(owner_client, orders, request):
    run_artifact(orders, user=None, raw_params={"status": "cancelled"})
    run_artifact(orders, user=None, raw_params={"status": "paid"})
    request.getfixturevalue("no_queries")

    content = owner_client.get(f"{orders.get_absolute_url()}?status=cancelled").content.decode()
    assert statuses_shown(content) == {"cancelled"}
    assert 'name="status" value="cancelled"' in content

    # Values nobody ran yet: the form holds them and the page asks for a run.
    content = owner_client.get(f"{orders.get_absolute_url()}?status=returned").content.decode()
    assert 'name="status" value="returned"' in content
    assert "Run the query to see its result here" in content
    assert ArtifactRun.objects.count() == 2


def test_a_bad_value_in_the_url_is_shown_on_its_input_and_nothing_runs(owner_client, shop, owner):
    artifact = ArtifactFactory(
        owner=owner,
        sql_query="SELECT id FROM orders WHERE total >= :minimum",
        query_params=[{"name": "minimum", "type": "number", "default": 0}],
    )
    response = owner_client.get(f"{artifact.get_absolute_url()}?minimum=lots")
    assert response.status_code == 200
    assert "expected a number" in response.content.decode()
    assert not ArtifactRun.objects.exists()


def test_a_page_never_run_invites_a_run(owner_client, orders, no_queries):
    content = owner_client.get(orders.get_absolute_url()).content.decode()
    assert "Run the query to see its result here" in content
    assert not ArtifactRun.objects.exists()


def test_a_run_with_htmx_puts_its_values_in_the_address_bar(owner_client, orders):
    url = reverse("llm_artifact:artifact_run", args=[orders.pk])
    response = owner_client.post(url, {"status": "paid"}, headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Push-Url"] == f"{orders.get_absolute_url()}?status=paid"
    # Bad values push nothing: the address keeps what the page shows.
    refused = owner_client.post(url, {"status": "x\x00"}, headers=HTMX)
    assert refused.status_code == 422 and "HX-Push-Url" not in refused


def test_a_changed_query_does_not_show_the_rows_of_the_old_one(owner_client, orders):
    run_artifact(orders, user=None, raw_params={})
    Artifact.objects.filter(pk=orders.pk).update(sql_query=BY_STATUS.replace("id, ", ""))
    content = owner_client.get(orders.get_absolute_url()).content.decode()
    assert "Result of the run at" not in content


def test_a_snapshot_keeps_the_first_rows_within_its_bounds():
    rows = [(n, Decimal("1.50"), dt.date(2024, 5, n % 28 + 1), b"\x00") for n in range(500)]
    kept = result_snapshot(rows)
    assert len(kept) == SNAPSHOT_MAX_ROWS
    assert kept[0] == [0, "1.50", "2024-05-01", "b'\\x00'"]

    # Text any JSON column stores (PostgreSQL's jsonb refuses NUL and lone surrogates).
    assert result_snapshot([("a\x00b", "c\ud800", float("nan"))]) == [["a\ufffdb", "c?", "nan"]]

    wide = [("x" * 10_000,) for _ in range(50)]
    kept = result_snapshot(wide)
    assert 0 < len(kept) < 50
    assert sum(len(row[0]) for row in kept) <= SNAPSHOT_MAX_BYTES


def test_only_the_latest_runs_keep_their_rows(orders):
    for _ in range(KEPT_SNAPSHOTS + 3):
        run_artifact(orders, user=None, raw_params={})
    kept = ArtifactRun.objects.filter(snapshot__isnull=False)
    assert kept.count() == KEPT_SNAPSHOTS
    latest = ArtifactRun.objects.order_by("-started_at", "-id")[:KEPT_SNAPSHOTS]
    assert set(kept.values_list("pk", flat=True)) == {run.pk for run in latest}


def test_a_failed_run_keeps_no_rows(orders):
    Artifact.objects.filter(pk=orders.pk).update(sql_query="SELECT nope FROM orders")
    orders.refresh_from_db()
    run, _ = run_artifact(orders, user=None, raw_params={})
    assert run.outcome == "error" and run.snapshot is None


def test_clearing_older_rows_reads_only_the_runs_that_keep_theirs(orders):
    # Every good run clears the rows of runs older than the latest KEPT_SNAPSHOTS. Without
    # an index of the runs that keep rows, that read all of an artifact's runs: 53 ms a run
    # at 10,000 runs on SQLite, growing with every run.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "sqlite":
        pytest.skip("reads SQLite's query plan")
    with CaptureQueriesContext(connection) as queries:
        run_artifact(orders, user=None, raw_params={})
    clearing = next(q["sql"] for q in queries if 'SET "snapshot" = NULL' in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {clearing}")
        plan = " / ".join(str(row[-1]) for row in cursor.fetchall())
    assert "artifactrun_with_snapshot" in plan
    assert "SCAN" not in plan, plan

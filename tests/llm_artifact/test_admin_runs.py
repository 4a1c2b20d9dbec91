"""Runs in the admin: the run history inline on an artifact, the "Run selected artifacts"
action, and the read-only ArtifactRun admin."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from apps.llm_artifact.admin import RUNS_SHOWN
from apps.llm_artifact.models import Artifact, ArtifactRun
from tests.conftest import UserFactory
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

ARTIFACTS = reverse("admin:llm_artifact_artifact_changelist")
RUNS = reverse("admin:llm_artifact_artifactrun_changelist")


@pytest.fixture
def shop(tmp_path: Path, settings) -> Path:
    return sample.use_sqlite(tmp_path, settings, name="shop")


def change_url(artifact: Artifact) -> str:
    return reverse("admin:llm_artifact_artifact_change", args=[artifact.pk])


def record(artifact: Artifact, minutes_ago: int, user=None, **fields) -> ArtifactRun:
    fields.setdefault("outcome", ArtifactRun.Outcome.OK)
    return artifact.record_run(
        user=user or artifact.owner,
        started_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
        params={},
        **fields,
    )


def listed(response) -> list[int]:
    return [obj.pk for obj in response.context["cl"].result_list]


# --- the run history on the artifact's change page ---------------------------------------------


def test_change_page_shows_the_latest_runs_newest_first_with_badges(staff_client, owner):
    artifact = ArtifactFactory(owner=owner)
    record(artifact, 30, row_count=12)
    record(artifact, 10, outcome=ArtifactRun.Outcome.TIMEOUT, error="Ran past the 10 s limit.")
    record(artifact, 20, outcome=ArtifactRun.Outcome.REJECTED, error="<b>DELETE</b> refused")

    response = staff_client.get(change_url(artifact))

    assert response.status_code == 200
    inline = response.context["inline_admin_formsets"][0]
    shown = [form.original for form in inline]
    assert [run.outcome for run in shown] == ["timeout", "rejected", "ok"]
    html = response.content.decode()
    assert ">Timed out</span>" in html
    assert ">Rejected</span>" in html
    assert ">Succeeded</span>" in html
    # Errors come from the database and the LLM's SQL: escaped, never markup.
    assert "&lt;b&gt;DELETE&lt;/b&gt; refused" in html
    assert "<b>DELETE</b>" not in html
    runs_link = f'<a href="{RUNS}?artifact__id__exact={artifact.pk}">All 3 runs</a>'
    assert runs_link in html


def test_change_page_shows_at_most_the_latest_runs_and_links_to_all(staff_client, owner):
    artifact = ArtifactFactory(owner=owner)
    for minutes in range(RUNS_SHOWN + 5):
        record(artifact, minutes, row_count=minutes)

    response = staff_client.get(change_url(artifact))

    shown = [form.original for form in response.context["inline_admin_formsets"][0]]
    assert [run.row_count for run in shown] == list(range(RUNS_SHOWN))
    assert f"All {RUNS_SHOWN + 5} runs" in response.content.decode()


def test_a_never_run_artifact_says_so(staff_client, owner):
    response = staff_client.get(change_url(ArtifactFactory(owner=owner)))

    assert "Never run." in response.content.decode()


def test_change_page_query_count_does_not_grow_with_runs(staff_client, owner, assert_get_queries):
    artifact = ArtifactFactory(owner=owner)
    users = UserFactory.create_batch(3)

    def add_runs(start: int, count: int) -> None:
        for minutes in range(start, start + count):
            record(artifact, minutes, user=users[minutes % 3])

    # One more than before sharing (the shares inline's rows), one for the tags field.
    add_runs(0, 2)
    assert_get_queries(staff_client, change_url(artifact), most=9)
    add_runs(2, 40)
    assert_get_queries(staff_client, change_url(artifact), most=9)


def test_saving_the_artifact_needs_no_run_data_and_leaves_runs_alone(staff_client, owner):
    artifact = ArtifactFactory(owner=owner)
    run = record(artifact, 1, row_count=5)
    form = {
        "title": "Renamed",
        "artifact_type": artifact.artifact_type,
        "status": artifact.status,
        "owner": owner.pk,
        "data_source": artifact.data_source,
        "sql_query": artifact.sql_query,
        "query_params": "[]",
        "visualization_config": "{}",
        "visibility": "private",
        "shares-TOTAL_FORMS": "0",
        "shares-INITIAL_FORMS": "0",
        # Crafted run fields are ignored: the history is display only.
        "runs-TOTAL_FORMS": "1",
        "runs-INITIAL_FORMS": "1",
        "runs-0-id": run.pk,
        "runs-0-row_count": "999",
        "runs-0-DELETE": "on",
    }

    response = staff_client.post(change_url(artifact), form)

    assert response.status_code == 302
    artifact.refresh_from_db()
    assert artifact.title == "Renamed"
    run.refresh_from_db()
    assert run.row_count == 5


# --- the "Run selected artifacts" action --------------------------------------------------


def test_run_selected_runs_each_and_reports_each_outcome(staff_client, staff, owner, shop):
    good = ArtifactFactory(owner=owner, title="A good one", data_source="shop")
    with_default = ArtifactFactory(
        owner=owner,
        title="B with a default",
        data_source="shop",
        sql_query="SELECT id FROM orders WHERE status = :status",
        query_params=[{"name": "status", "type": "string", "default": "delivered"}],
    )
    broken = ArtifactFactory(owner=owner, title="C broken", data_source="shop")
    Artifact.objects.filter(pk=broken.pk).update(sql_query="SELECT * FROM nowhere")
    needs_input = ArtifactFactory(
        owner=owner,
        title="D needs input",
        data_source="shop",
        sql_query="SELECT id FROM orders WHERE total > :minimum",
        query_params=[{"name": "minimum", "type": "number", "required": True}],
    )
    writer = ArtifactFactory(owner=owner, title="E writes", data_source="shop")
    Artifact.objects.filter(pk=writer.pk).update(sql_query="DELETE FROM orders")
    before = sample.sqlite_fingerprint(shop)
    selected = [good, with_default, broken, needs_input, writer]

    response = staff_client.post(
        ARTIFACTS,
        {"action": "run_selected", "_selected_action": [a.pk for a in selected]},
        follow=True,
    )

    assert response.status_code == 200
    reported = [
        (m.level_tag, re.sub(r"in \d+ ms", "in N ms", m.message))
        for m in get_messages(response.wsgi_request)
    ]
    assert reported == [
        ("success", "“A good one” ran: 6 rows in N ms."),
        ("success", "“B with a default” ran: 2 rows in N ms."),
        ("error", "“C broken” failed: no such table: nowhere"),
        (
            "warning",
            "“D needs input” did not run: Parameter 'minimum' is required. "
            "Run it from its page instead.",
        ),
        (
            "error",
            "“E writes” rejected: Only queries that read are allowed (SELECT, WITH ... SELECT, "
            "UNION / INTERSECT / EXCEPT, VALUES); this statement is DELETE.",
        ),
    ]
    assert sample.sqlite_fingerprint(shop) == before
    runs = {run.artifact_id: run for run in ArtifactRun.objects.all()}
    assert set(runs) == {good.pk, with_default.pk, broken.pk, writer.pk}
    assert all(run.user == staff for run in runs.values())
    assert runs[with_default.pk].params == {"status": "delivered"}
    good.refresh_from_db()
    broken.refresh_from_db()
    assert (good.execution_count, good.status) == (1, Artifact.Status.ACTIVE)
    assert (broken.execution_count, broken.status) == (0, Artifact.Status.FAILED)


def test_run_selected_escapes_titles_in_its_messages(staff_client, owner, shop):
    ArtifactFactory(owner=owner, title="<script>alert(1)</script>", data_source="shop")

    response = staff_client.post(
        ARTIFACTS,
        {
            "action": "run_selected",
            "_selected_action": list(Artifact.objects.values_list("pk", flat=True)),
        },
        follow=True,
    )

    html = response.content.decode()
    assert "“&lt;script&gt;alert(1)&lt;/script&gt;” ran" in html
    assert "<script>alert(1)</script>" not in html


# --- the ArtifactRun admin -------------------------------------------------------------------


def test_run_list_shows_badges_and_links_to_the_artifact(staff_client, owner):
    artifact = ArtifactFactory(owner=owner, title="Revenue by month")
    record(artifact, 1, outcome=ArtifactRun.Outcome.ERROR, error="no such column: x")

    response = staff_client.get(RUNS)

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<a href="{change_url(artifact)}">Revenue by month</a>' in html
    assert ">Failed</span>" in html
    assert "no such column: x" in html


def test_run_list_filters_by_outcome_data_source_and_artifact(staff_client, owner, settings):
    settings.DATA_SOURCES = "marketplace=sqlite:///var/a.sqlite3 warehouse=sqlite:///var/b.sqlite3"
    here = ArtifactFactory(owner=owner)
    there = ArtifactFactory(owner=owner, data_source="warehouse")
    ok = record(here, 3)
    failed = record(here, 2, outcome=ArtifactRun.Outcome.ERROR, error="x")
    elsewhere = record(there, 1)

    assert listed(staff_client.get(RUNS, {"outcome__exact": "error"})) == [failed.pk]
    assert listed(staff_client.get(RUNS, {"data_source": "warehouse"})) == [elsewhere.pk]
    # The artifact page's "All N runs" link.
    assert listed(staff_client.get(RUNS, {"artifact__id__exact": here.pk})) == [failed.pk, ok.pk]


def test_run_list_searches_titles_errors_and_users(staff_client, owner, other_user):
    churn = ArtifactFactory(owner=owner, title="Churned customers")
    by_title = record(churn, 3)
    by_error = record(ArtifactFactory(owner=owner), 2, outcome="error", error="division by zero")
    by_user = record(ArtifactFactory(owner=other_user), 1)

    assert listed(staff_client.get(RUNS, {"q": "churned"})) == [by_title.pk]
    assert listed(staff_client.get(RUNS, {"q": "division"})) == [by_error.pk]
    assert listed(staff_client.get(RUNS, {"q": "other"})) == [by_user.pk]


def test_run_list_drills_down_by_date(staff_client, owner):
    artifact = ArtifactFactory(owner=owner)
    recent = record(artifact, 1)
    old = record(artifact, 60 * 24 * 400)

    assert listed(staff_client.get(RUNS, {"started_at__year": old.started_at.year})) == [old.pk]
    now = timezone.now()
    assert recent.pk in listed(staff_client.get(RUNS, {"started_at__year": now.year}))


def test_runs_are_read_only(staff_client, owner):
    run = record(ArtifactFactory(owner=owner), 1, row_count=3)
    run_url = reverse("admin:llm_artifact_artifactrun_change", args=[run.pk])

    assert staff_client.get(reverse("admin:llm_artifact_artifactrun_add")).status_code == 403
    view = staff_client.get(run_url)
    assert view.status_code == 200
    assert 'name="row_count"' not in view.content.decode()  # shown, not editable
    staff_client.post(run_url, {"row_count": "999"})
    delete = reverse("admin:llm_artifact_artifactrun_delete", args=[run.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    run.refresh_from_db()
    assert run.row_count == 3


def test_run_list_query_count_does_not_grow_with_rows(staff_client, owner, assert_get_queries):
    users = UserFactory.create_batch(3)
    artifacts = [ArtifactFactory(owner=users[i]) for i in range(3)]

    def add_runs(start: int, count: int) -> None:
        for minutes in range(start, start + count):
            record(artifacts[minutes % 3], minutes, user=users[minutes % 3])

    add_runs(0, 5)
    assert_get_queries(staff_client, RUNS, most=8)
    add_runs(5, 45)
    assert_get_queries(staff_client, RUNS, most=8)


def test_non_staff_cannot_reach_the_runs(client, owner):
    record(ArtifactFactory(owner=owner), 1)
    client.force_login(owner)

    response = client.get(RUNS)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))

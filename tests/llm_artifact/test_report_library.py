"""Reports through the API, the admin and bundles: the registry's faces, for the report type."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from apps.llm_artifact.bundles import apply_import, export_bundle, plan_import
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.reports.render import render_report, rerun_report
from tests.llm_artifact.factories import BAR, ArtifactFactory
from tests.llm_artifact.test_report_render import (
    STATUS_PARAM,
    STATUS_SQL,
    TOTAL_SQL,
    document,
    values_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def sources(shop, owner):
    chart = ArtifactFactory(
        owner=owner, title="Orders by status", sql_query=STATUS_SQL, visualization_config=BAR
    )
    table = ArtifactFactory(owner=owner, title="Order list", sql_query="SELECT id FROM orders")
    totals = ArtifactFactory(
        owner=owner, title="Paid totals", sql_query=TOTAL_SQL, query_params=STATUS_PARAM
    )
    return chart, table, totals


@pytest.fixture
def report(sources, owner):
    return ArtifactFactory(
        owner=owner,
        title="Monthly sales",
        artifact_type="report",
        sql_query="",
        document={"markdown": document(*sources)},
    )


def test_the_api_creates_a_report_and_refuses_a_malformed_one(owner_api, sources):
    chart = sources[0]
    url = reverse("api:artifact-list")
    payload = {
        "title": "Via the API",
        "artifact_type": "report",
        "data_source": "marketplace",
        "document": {"markdown": f"Orders:\n\n```artifact {chart.pk} show=table\n```\n"},
    }
    created = owner_api.post(url, payload, format="json")
    assert created.status_code == 201, created.json()
    assert Artifact.objects.get(pk=created.json()["id"]).artifact_type == "report"

    bad = owner_api.post(
        url, {**payload, "document": {"markdown": "```artifact 1 show=pie\n```"}}, format="json"
    )
    assert bad.status_code == 400
    assert "show must be chart or table" in json.dumps(bad.json())
    extra = owner_api.post(url, {**payload, "document": {"text": "x"}}, format="json")
    assert extra.status_code == 400


def test_the_api_refuses_to_execute_a_report(owner_api, report):
    response = owner_api.post(reverse("api:artifact-execute", args=[report.pk]), {}, format="json")
    assert response.status_code == 404


def test_the_admin_shows_a_reports_text(client, staff, report):
    client.force_login(staff)
    response = client.get(reverse("admin:llm_artifact_artifact_change", args=[report.pk]))
    assert response.status_code == 200
    assert "Monthly sales</h1>" in response.text
    assert "Blocks and values show as written here" in response.text


def test_the_list_shows_a_report_row(client, owner, report):
    client.force_login(owner)
    response = client.get(reverse("llm_artifact:artifact_list"))
    assert "A report with live blocks" in response.text


def test_a_bundle_carries_the_report_by_uid_and_it_works_on_another_site(
    shop, owner, other_user, report, sources
):
    bundle = json.loads(json.dumps(export_bundle(Artifact.objects.all())))
    (entry,) = [e for e in bundle["artifacts"] if e["type"] == "report"]
    markdown = entry["document"]["markdown"]
    assert not re.search(r"```artifact \d", markdown) and "{{ value uid=" in markdown
    assert f"```artifact uid={sources[0].uid} show=chart" in markdown

    Artifact.objects.all().delete()
    plan = plan_import(bundle, other_user)
    assert plan.ok, [item.problems for item in plan.items]
    apply_import(plan)

    imported = Artifact.objects.get(artifact_type="report")
    rerun_report(imported.document["markdown"], other_user)
    html = render_report(imported.document["markdown"], other_user).html
    assert values_of(html) == ["4", "699.25"]


def test_a_bundled_report_naming_a_missing_artifact_is_a_problem(shop, owner, report):
    bundle = json.loads(json.dumps(export_bundle(Artifact.objects.filter(pk=report.pk))))
    Artifact.objects.all().delete()
    plan = plan_import(bundle, owner)
    assert not plan.ok
    (item,) = plan.items
    assert any("neither in the bundle nor here" in problem for problem in item.problems)

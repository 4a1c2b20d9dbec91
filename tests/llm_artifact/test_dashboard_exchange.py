"""Dashboards through the API, the admin and bundles: the registry's checks on every face."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apps.llm_artifact.bundles import apply_import, export_bundle, plan_import
from apps.llm_artifact.models import Artifact
from tests.llm_artifact.factories import DATE_FILTER, dashboard_for, period_artifacts

pytestmark = pytest.mark.django_db


@pytest.fixture
def artifacts(owner, shop):
    return period_artifacts(owner)


@pytest.fixture
def dashboard(owner, artifacts):
    return dashboard_for(owner, artifacts, shows=["number", "chart", "table"])


def document_of(artifacts) -> dict:
    return {
        "tiles": [
            {"id": "a", "kind": "artifact", "artifact": str(artifacts[0].uid), "show": "number"},
            {"id": "b", "kind": "text", "text": "Weekly numbers", "width": 12},
        ],
        "filters": [DATE_FILTER],
    }


# --- API ------------------------------------------------------------------------------------


def test_api_creates_a_dashboard(owner_api, artifacts):
    response = owner_api.post(
        "/api/artifacts/",
        {
            "title": "Weekly",
            "artifact_type": "dashboard",
            "document": document_of(artifacts),
            "data_source": "marketplace",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["artifact_type"] == "dashboard" and body["sql_query"] == ""
    assert body["document"]["tiles"][0]["artifact"] == str(artifacts[0].uid)
    assert Artifact.objects.get(pk=body["id"]).document["tiles"][1]["text"] == "Weekly numbers"


def test_api_refuses_a_bad_document_with_its_reasons(owner_api, artifacts):
    document = document_of(artifacts)
    document["tiles"][0]["width"] = 5
    document["tiles"].append({"id": "a", "kind": "text", "text": "again"})
    response = owner_api.post(
        "/api/artifacts/",
        {"title": "Bad", "artifact_type": "dashboard", "document": document},
        format="json",
    )
    assert response.status_code == 400
    problems = " ".join(response.json()["document"])
    assert "tiles.0.width" in problems


def test_api_refuses_sql_on_a_dashboard(owner_api, artifacts):
    response = owner_api.post(
        "/api/artifacts/",
        {
            "title": "Bad",
            "artifact_type": "dashboard",
            "document": document_of(artifacts),
            "sql_query": "SELECT 1",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "no SQL of its own" in response.json()["sql_query"][0]


def test_api_refuses_an_unknown_type(owner_api):
    response = owner_api.post(
        "/api/artifacts/",
        {"title": "Sheet", "artifact_type": "spreadsheet", "sql_query": "SELECT 1"},
        format="json",
    )
    assert response.status_code == 400 and "artifact_type" in response.json()


def test_api_does_not_execute_a_dashboard(owner_api, dashboard):
    response = owner_api.post(f"/api/artifacts/{dashboard.pk}/execute/", {}, format="json")
    assert response.status_code == 404
    assert owner_api.get(f"/api/artifacts/{dashboard.pk}/").status_code == 200


def test_api_other_user_gets_404(other_api, dashboard):
    assert other_api.get(f"/api/artifacts/{dashboard.pk}/").status_code == 404


def test_api_lists_dashboards_by_type(owner_api, dashboard):
    response = owner_api.get("/api/artifacts/?artifact_type=dashboard")
    assert [row["id"] for row in response.json()["results"]] == [dashboard.pk]


# --- admin ----------------------------------------------------------------------------------


def test_admin_shows_the_document_and_its_tiles(client, staff, dashboard, artifacts):
    client.force_login(staff)
    url = reverse("admin:llm_artifact_artifact_change", args=[dashboard.pk])
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="document"' in html and 'name="sql_query"' not in html
    assert "dashboard-admin-tiles" in html
    for artifact in artifacts:
        assert artifact.title in html


def test_admin_sql_artifact_keeps_its_query_fields(client, staff, artifacts):
    client.force_login(staff)
    html = client.get(
        reverse("admin:llm_artifact_artifact_change", args=[artifacts[0].pk])
    ).content.decode()
    assert 'name="sql_query"' in html and 'name="document"' not in html


# --- bundles --------------------------------------------------------------------------------


def test_bundle_carries_the_dashboard_with_its_tiles_by_uid(owner, dashboard, artifacts):
    bundle = export_bundle(Artifact.objects.filter(pk__in=[dashboard.pk, artifacts[0].pk]))
    entries = {entry["type"]: entry for entry in bundle["artifacts"]}
    assert "document" not in entries["sql_query"]
    assert entries["dashboard"]["document"]["tiles"][0]["artifact"] == str(artifacts[0].uid)
    assert entries["dashboard"]["document"]["filters"] == [DATE_FILTER]


def test_bundle_imports_a_dashboard_and_its_artifacts_on_another_site(
    owner, other_user, dashboard, artifacts
):
    bundle = json.loads(json.dumps(export_bundle(Artifact.objects.all())))
    Artifact.objects.all().delete()
    plan = plan_import(bundle, other_user)
    assert plan.ok, [item.problems for item in plan.items]
    apply_import(plan)
    imported = Artifact.objects.get(artifact_type="dashboard")
    assert imported.owner == other_user
    uids = {tile["artifact"] for tile in imported.document["tiles"]}
    assert uids == {
        str(uid) for uid in Artifact.objects.exclude(pk=imported.pk).values_list("uid", flat=True)
    }


def test_bundle_import_refuses_a_tile_of_an_artifact_missing_everywhere(
    owner, dashboard, artifacts
):
    bundle = json.loads(json.dumps(export_bundle(Artifact.objects.filter(pk=dashboard.pk))))
    artifacts[2].delete()
    Artifact.objects.filter(pk=dashboard.pk).delete()
    plan = plan_import(bundle, owner)
    [item] = plan.items
    assert not plan.ok
    assert item.problems == [
        f"document: a tile shows the artifact {artifacts[2].uid}, which is neither here nor "
        "in the bundle."
    ]


def test_bundle_import_checks_the_document(owner, dashboard):
    bundle = json.loads(json.dumps(export_bundle(Artifact.objects.filter(pk=dashboard.pk))))
    bundle["artifacts"][0]["document"]["tiles"][0]["show"] = "pie"
    bundle["artifacts"][0]["uid"] = "00000000-0000-0000-0000-000000000001"
    plan = plan_import(bundle, owner)
    assert not plan.ok
    assert any("tiles.0.show" in problem for problem in plan.items[0].problems)


def test_admin_saves_a_dashboards_document_and_refuses_a_bad_one(client, staff, dashboard):
    from tests.llm_artifact.factories import share_forms

    client.force_login(staff)
    url = reverse("admin:llm_artifact_artifact_change", args=[dashboard.pk])
    document = dashboard.document
    document["tiles"][0]["width"] = 12
    data = {
        "title": "Renamed",
        "artifact_type": "dashboard",
        "status": dashboard.status,
        "owner": dashboard.owner_id,
        "visibility": dashboard.visibility,
        "data_source": dashboard.data_source,
        "document": json.dumps(document),
        "description": dashboard.description,
        "comment": "",
        "question": "",
        "chat": "",
        "agent": "",
        **share_forms(dashboard),
        "runs-TOTAL_FORMS": "0",
        "runs-INITIAL_FORMS": "0",
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    dashboard.refresh_from_db()
    assert dashboard.title == "Renamed" and dashboard.document["tiles"][0]["width"] == 12
    document["tiles"][0]["width"] = 7
    response = client.post(url, {**data, "document": json.dumps(document)})
    assert response.status_code == 200
    assert "tiles.0.width" in response.content.decode()

"""The bundle pages: "Export selected" on the list and the import page's dry run and
confirmation, without JavaScript (plain form posts)."""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.llm_artifact.models import Artifact
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

EXPORT = "/artifacts/export/"
IMPORT = "/artifacts/import/"


def entry(**changes) -> dict:
    item = {
        "uid": str(uuid.uuid4()),
        "title": "Orders by status",
        "type": "sql_query",
        "sql": "SELECT status, COUNT(*) AS orders FROM orders GROUP BY status",
        "data_source": "marketplace",
    }
    item.update(changes)
    return item


def upload(*items: dict) -> SimpleUploadedFile:
    bundle = {"format": "llm-artifacts-bundle", "version": 1, "artifacts": list(items)}
    return SimpleUploadedFile("bundle.json", json.dumps(bundle).encode(), "application/json")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_list_offers_checkboxes_export_and_import(shop, owner_client, owner):
    artifact = ArtifactFactory(owner=owner)
    content = owner_client.get("/artifacts/").content.decode()
    assert f'name="ids" value="{artifact.pk}" form="artifact-export"' in content
    assert "Export selected" in content and f'href="{IMPORT}"' in content


def test_export_selected_downloads_a_bundle_of_those(shop, owner_client, owner):
    chosen = [ArtifactFactory(owner=owner, title=f"Chosen {n}") for n in range(2)]
    ArtifactFactory(owner=owner, title="Left out")
    response = owner_client.post(EXPORT, {"ids": [a.pk for a in chosen]})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment; filename=")
    titles = [item["title"] for item in json.loads(response.content)["artifacts"]]
    assert titles == ["Chosen 0", "Chosen 1"]


def test_export_with_nothing_selected_says_so(shop, owner_client):
    response = owner_client.post(EXPORT, {}, follow=True)
    assert "Select the artifacts to export" in response.content.decode()


def test_other_user_gets_404_exporting_my_artifact(shop, owner, other_user):
    artifact = ArtifactFactory(owner=owner)
    assert client_for(other_user).post(EXPORT, {"ids": [artifact.pk]}).status_code == 404


def test_anonymous_is_sent_to_sign_in(client):
    assert client.get(IMPORT).status_code == 302
    assert client.post(EXPORT, {"ids": ["1"]}).status_code == 302


def test_dry_run_shows_the_plan_and_writes_nothing(shop, owner_client):
    response = owner_client.post(IMPORT, {"file": upload(entry()), "conflict": "skip"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "1 to create, 0 to update, 0 to skip" in content
    assert 'name="confirm"' in content
    assert not Artifact.objects.exists()


def test_confirm_imports_what_the_dry_run_showed(shop, owner_client, owner):
    owner_client.post(IMPORT, {"file": upload(entry(title="Imported")), "conflict": "skip"})
    response = owner_client.post(IMPORT, {"confirm": "1"}, follow=True)
    assert "Imported: 1 created" in response.content.decode()
    assert Artifact.objects.get().owner == owner
    # The same confirmation twice does not import twice.
    response = owner_client.post(IMPORT, {"confirm": "1"}, follow=True)
    assert "Upload the bundle again" in response.content.decode()
    assert Artifact.objects.count() == 1


def test_problems_are_shown_per_item_with_a_400(shop, owner_client):
    bad = upload(entry(title="Fine"), entry(title="Bad", sql="UPDATE orders SET total = 0"))
    response = owner_client.post(IMPORT, {"file": bad, "conflict": "skip"})
    assert response.status_code == 400
    content = response.content.decode()
    assert "Nothing can be imported" in content and 'name="confirm"' not in content
    assert "table-danger" in content
    assert not Artifact.objects.exists()


def test_a_file_that_is_not_a_bundle_is_an_inline_error(shop, owner_client):
    junk = SimpleUploadedFile("bundle.json", b"\x00\xff not json")
    response = owner_client.post(IMPORT, {"file": junk, "conflict": "skip"})
    assert response.status_code == 400
    assert "cannot be read" in response.content.decode()


def test_an_unknown_conflict_policy_is_an_inline_error(shop, owner_client):
    response = owner_client.post(IMPORT, {"file": upload(entry()), "conflict": "merge"})
    assert response.status_code == 400
    assert "merge" in response.content.decode()


def test_admin_action_exports_the_selected_artifacts(shop, staff_client, owner, other_user):
    chosen = [ArtifactFactory(owner=owner, title="Owner's"), ArtifactFactory(owner=other_user)]
    ArtifactFactory(owner=owner, title="Not chosen")
    response = staff_client.post(
        "/admin/llm_artifact/artifact/",
        {"action": "export_bundle", "_selected_action": [a.pk for a in chosen]},
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    bundle = json.loads(response.content)
    assert sorted(item["uid"] for item in bundle["artifacts"]) == sorted(str(a.uid) for a in chosen)


def test_confirm_checks_again_what_the_dry_run_allowed(shop, owner_client, owner, other_user):
    mine = ArtifactFactory(owner=owner, title="Mine")
    bundle = upload(entry(uid=str(mine.uid), title="Renamed"))
    response = owner_client.post(IMPORT, {"file": bundle, "conflict": "update"})
    assert "0 to create, 1 to update" in response.content.decode()
    # Between the dry run and the confirmation, the artifact changes hands.
    Artifact.objects.filter(pk=mine.pk).update(owner=other_user)
    response = owner_client.post(IMPORT, {"confirm": "1"})
    assert response.status_code == 400
    assert "may not edit" in response.content.decode()
    mine.refresh_from_db()
    assert mine.title == "Mine"

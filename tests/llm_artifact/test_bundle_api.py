"""Bundles on the API and the command line, for each persona."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import jsonschema
import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from apps.llm_artifact.bundles import SCHEMA_PATH
from apps.llm_artifact.models import Artifact, ArtifactShare, Tag
from tests.conftest import UserFactory
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

EXPORT = "/api/artifacts/export/"
IMPORT = "/api/artifacts/import/"


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


def bundle_of(*items: dict) -> dict:
    return {"format": "llm-artifacts-bundle", "version": 1, "artifacts": list(items)}


@pytest.fixture
def mine(shop, owner) -> list[Artifact]:
    finance = Tag.objects.create(name="finance")
    artifacts = [ArtifactFactory(owner=owner, title=f"Mine {n}") for n in range(3)]
    artifacts[0].tags.add(finance)
    return artifacts


@pytest.fixture
def group_viewer(mine) -> APIClient:
    viewer = UserFactory(username="viewer")
    group = Group.objects.create(name="readers")
    viewer.groups.add(group)
    shared = mine[0]
    shared.visibility = "groups"
    shared.save(update_fields=["visibility"])
    ArtifactShare.objects.create(artifact=shared, group=group, can_edit=False)
    client = APIClient()
    client.force_authenticate(viewer)
    return client


def titles(response) -> list[str]:
    return [item["title"] for item in response.json()["artifacts"]]


def test_owner_exports_everything_the_list_shows(mine, owner_api):
    response = owner_api.get(EXPORT)
    assert response.status_code == 200
    jsonschema.validate(response.json(), json.loads(SCHEMA_PATH.read_text()))
    assert sorted(titles(response)) == ["Mine 0", "Mine 1", "Mine 2"]


def test_export_follows_the_list_filters(mine, owner_api):
    response = owner_api.get(EXPORT, {"search": "Mine 1"})
    assert titles(response) == ["Mine 1"]


def test_export_selected_by_id(mine, owner_api):
    response = owner_api.post(EXPORT, {"ids": [mine[0].pk, mine[2].pk]}, format="json")
    assert response.status_code == 200
    assert titles(response) == ["Mine 0", "Mine 2"]
    assert response.json()["artifacts"][0]["tags"] == ["finance"]


def test_other_user_exports_nothing_of_mine(mine, other_api):
    assert titles(other_api.get(EXPORT)) == []
    response = other_api.post(EXPORT, {"ids": [mine[0].pk]}, format="json")
    assert response.status_code == 400
    assert str(mine[0].pk) in response.json()["ids"][0]


def test_group_viewer_exports_what_is_shared_with_them(group_viewer):
    assert titles(group_viewer.get(EXPORT)) == ["Mine 0"]


def test_staff_exports_everyones(mine, staff_api):
    assert len(titles(staff_api.get(EXPORT))) == 3


def test_anonymous_gets_401(mine, api_client):
    assert api_client.get(EXPORT).status_code == 401
    assert api_client.post(IMPORT, bundle_of(entry()), format="json").status_code == 401


def test_too_large_a_selection_is_a_400(mine, owner_api, settings):
    settings.BUNDLE_MAX_ARTIFACTS = 2
    response = owner_api.get(EXPORT)
    assert response.status_code == 400
    assert "narrow the selection" in response.json()["non_field_errors"][0]


def test_dry_run_writes_nothing_and_says_what_would_happen(shop, owner_api):
    response = owner_api.post(f"{IMPORT}?dry_run=true", bundle_of(entry()), format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["imported"] is False and body["counts"]["create"] == 1
    assert not Artifact.objects.exists()


def test_import_creates_artifacts_owned_by_the_importer(shop, owner_api, owner):
    response = owner_api.post(IMPORT, bundle_of(entry(tags=["weekly"])), format="json")
    assert response.status_code == 201
    artifact = Artifact.objects.get()
    assert artifact.owner == owner and [t.name for t in artifact.tags.all()] == ["weekly"]


def test_problems_are_a_400_per_item_and_nothing_is_written(shop, owner_api):
    bundle = bundle_of(entry(title="fine"), entry(title="bad", sql="DROP TABLE orders"))
    response = owner_api.post(IMPORT, bundle, format="json")
    assert response.status_code == 400
    items = response.json()["items"]
    assert items[0]["problems"] == [] and items[1]["problems"]
    assert not Artifact.objects.exists()


def test_import_from_a_file_upload(shop, owner_api):
    upload = SimpleUploadedFile("bundle.json", json.dumps(bundle_of(entry())).encode())
    response = owner_api.post(IMPORT, {"file": upload}, format="multipart")
    assert response.status_code == 201
    assert Artifact.objects.count() == 1


def test_an_upload_over_the_limit_is_a_clear_400(shop, owner_api, settings):
    settings.BUNDLE_MAX_BYTES = 50
    upload = SimpleUploadedFile("bundle.json", json.dumps(bundle_of(entry())).encode())
    response = owner_api.post(IMPORT, {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert "the limit is 50 bytes" in response.json()["detail"]


def test_a_file_that_is_not_json_is_a_400(shop, owner_api):
    upload = SimpleUploadedFile("bundle.json", b"not json")
    response = owner_api.post(IMPORT, {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert "cannot be read" in response.json()["detail"]


def test_bad_query_values_are_a_400(shop, owner_api):
    response = owner_api.post(f"{IMPORT}?conflict=merge", bundle_of(entry()), format="json")
    assert response.status_code == 400
    assert "merge" in response.json()["problems"][0]
    response = owner_api.post(f"{IMPORT}?dry_run=maybe", bundle_of(entry()), format="json")
    assert response.status_code == 400


def test_other_user_cannot_update_my_artifact_by_uid(mine, other_api):
    bundle = bundle_of(entry(uid=str(mine[0].uid), title="Hijacked"))
    response = other_api.post(f"{IMPORT}?conflict=update", bundle, format="json")
    assert response.status_code == 400
    mine[0].refresh_from_db()
    assert mine[0].title == "Mine 0"


def test_skipping_my_artifact_does_not_tell_another_user_its_id(mine, other_api, owner_api):
    bundle = bundle_of(entry(uid=str(mine[0].uid)))
    (item,) = other_api.post(f"{IMPORT}?dry_run=true", bundle, format="json").json()["items"]
    assert item["action"] == "skip" and item["artifact_id"] is None
    (item,) = owner_api.post(f"{IMPORT}?dry_run=true", bundle, format="json").json()["items"]
    assert item["artifact_id"] == mine[0].pk


def test_group_viewer_cannot_update_but_may_copy(mine, group_viewer):
    bundle = bundle_of(entry(uid=str(mine[0].uid), title="Changed"))
    assert group_viewer.post(f"{IMPORT}?conflict=update", bundle, format="json").status_code == 400
    response = group_viewer.post(f"{IMPORT}?conflict=copy", bundle, format="json")
    assert response.status_code == 201
    copied = Artifact.objects.get(title="Changed")
    assert copied.owner.username == "viewer" and copied.uid != mine[0].uid


def test_staff_may_update_anyones(mine, staff_api):
    bundle = bundle_of(entry(uid=str(mine[1].uid), title="Fixed by staff"))
    assert staff_api.post(f"{IMPORT}?conflict=update", bundle, format="json").status_code == 201
    mine[1].refresh_from_db()
    assert mine[1].title == "Fixed by staff" and mine[1].owner.username == "owner"


# --- the commands ---------------------------------------------------------------------------


def call(*args: str, stdin: bytes | None = None) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_export_command_by_tag_and_user(mine, owner, other_user):
    out, err = call("export_artifacts", "--tag", "FINANCE")
    assert [a["title"] for a in json.loads(out)["artifacts"]] == ["Mine 0"]
    assert "Exported 1 artifacts" in err
    out, _ = call("export_artifacts", "--user", other_user.username)
    assert json.loads(out)["artifacts"] == []
    out, _ = call("export_artifacts", "--data-source", "elsewhere")
    assert json.loads(out)["artifacts"] == []


def test_import_command_dry_run_then_import(mine, tmp_path, other_user):
    out, _ = call("export_artifacts")
    path = tmp_path / "bundle.json"
    path.write_text(out)
    out, _ = call("import_artifacts", str(path), "--user", "other", "--dry-run")
    assert "3. skip" in out and "Dry run" in out
    out, _ = call("import_artifacts", str(path), "--user", "other", "--conflict", "copy")
    assert "3 created" in out
    assert Artifact.objects.filter(owner=other_user).count() == 3


def test_import_command_reports_problems_and_exits_non_zero(shop, tmp_path, owner):
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle_of(entry(sql="DELETE FROM orders"))))
    with pytest.raises(CommandError, match="nothing was imported"):
        call("import_artifacts", str(path), "--user", "owner")
    assert not Artifact.objects.exists()
    with pytest.raises(CommandError, match="no user"):
        call("import_artifacts", str(path), "--user", "nobody")


# --- the round trip between two databases ---------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def manage(tmp_path: Path, shop: Path, *args: str, stdin: str | None = None) -> str:
    """A manage.py command on another, empty app database (its own SQLite file)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env = {
        **base,
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'other.sqlite3'}",
        "DATA_SOURCES": f"marketplace=sqlite:///{shop}",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_round_trip_through_another_database_gives_the_same_bundle(shop, owner, tmp_path):
    finance = Tag.objects.create(name="Finance")
    first = ArtifactFactory(owner=owner, title="Orders by status", question="Per status?")
    first.tags.add(finance, Tag.objects.create(name="weekly"))
    first.verify(owner)
    ArtifactFactory(
        owner=owner,
        title="Paid orders",
        status="draft",
        sql_query="SELECT id, total FROM orders WHERE status = :status ORDER BY id",
        query_params=[{"name": "status", "type": "string", "default": "paid"}],
        comment="for the weekly report",
    )
    exported, _ = call("export_artifacts")

    other = tmp_path / "other"
    other.mkdir()
    manage(other, shop, "migrate", "--noinput")
    manage(
        other,
        shop,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; User.objects.create_user('importer')",
    )
    out = manage(other, shop, "import_artifacts", "-", "--user", "importer", stdin=exported)
    assert "2 created" in out
    again = manage(other, shop, "export_artifacts")

    def without_time(text: str) -> dict:
        bundle = json.loads(text)
        del bundle["exported_at"]
        return bundle

    assert without_time(again) == without_time(exported)
    assert len(json.loads(again)["artifacts"]) == 2

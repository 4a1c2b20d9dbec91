"""The bundle format: export, the import plan (problems per item, conflicts, limits,
versions) and applying it all or nothing."""

from __future__ import annotations

import copy
import json
import uuid

import jsonschema
import pytest
from django.contrib.auth.models import Group

from apps.datasources.models import DataSourceGrant, DataSourcePolicy, ExposedTable
from apps.llm_artifact.bundles import (
    SCHEMA_PATH,
    BundleError,
    apply_import,
    export_bundle,
    load_bundle,
    plan_import,
)
from apps.llm_artifact.models import Artifact, Tag
from tests.conftest import UserFactory
from tests.llm_artifact.factories import BAR, ArtifactFactory

pytestmark = pytest.mark.django_db

PARAMS = [{"name": "status", "type": "string", "label": "Status", "default": "paid"}]
PARAM_SQL = "SELECT id, total FROM orders WHERE status = :status ORDER BY id"


def validate(bundle: dict) -> None:
    jsonschema.validate(bundle, json.loads(SCHEMA_PATH.read_text()))


def make_three(owner) -> list[Artifact]:
    finance, _ = Tag.objects.get_or_create(name="finance")
    first = ArtifactFactory(owner=owner, title="Orders by status", visualization_config=BAR)
    first.tags.add(finance)
    first.verify(owner, question="How many orders in each status?")
    second = ArtifactFactory(
        owner=owner, title="Orders of a status", sql_query=PARAM_SQL, query_params=PARAMS
    )
    third = ArtifactFactory(owner=owner, title="Draft", status="draft", comment="wip")
    return [first, second, third]


def entry(**changes) -> dict:
    item = {
        "uid": str(uuid.uuid4()),
        "title": "Orders by status",
        "type": "sql_query",
        "status": "active",
        "sql": "SELECT status, COUNT(*) AS orders FROM orders GROUP BY status",
        "parameters": [],
        "chart": {},
        "description": "",
        "comment": "",
        "tags": [],
        "question": "",
        "verified": False,
        "template_slots": [],
        "data_source": "marketplace",
    }
    item.update(changes)
    return item


def bundle_of(*items: dict, **top) -> dict:
    return {"format": "llm-artifacts-bundle", "version": 1, "artifacts": list(items), **top}


def without_time(bundle: dict) -> dict:
    return {key: value for key, value in bundle.items() if key != "exported_at"}


def test_export_holds_the_artifact_and_nothing_about_people(shop, owner):
    artifacts = make_three(owner)
    bundle = export_bundle(Artifact.objects.filter(pk__in=[a.pk for a in artifacts]))
    validate(bundle)
    first = bundle["artifacts"][0]
    assert first["uid"] == str(artifacts[0].uid)
    assert first["tags"] == ["finance"]
    assert first["verified"] is True
    assert first["question"] == "How many orders in each status?"
    assert first["chart"] == BAR
    assert bundle["artifacts"][1]["parameters"] == PARAMS
    text = json.dumps(bundle)
    assert owner.username not in text
    assert "execution_count" not in text and "chat" not in text


def test_round_trip_into_an_empty_database_gives_the_same_bundle(shop, owner, other_user):
    artifacts = make_three(owner)
    first = export_bundle(Artifact.objects.filter(pk__in=[a.pk for a in artifacts]))
    Artifact.objects.all().delete()
    Tag.objects.all().delete()
    plan = plan_import(json.loads(json.dumps(first)), other_user)
    assert plan.ok, [i.problems for i in plan.items]
    assert plan.counts == {"create": 3, "update": 0, "skip": 0}
    apply_import(plan)
    imported = Artifact.objects.all()
    assert {a.owner for a in imported} == {other_user}
    assert {a.visibility for a in imported} == {"private"}
    again = export_bundle(Artifact.objects.all())
    assert without_time(again) == without_time(first)


def test_every_problem_is_reported_per_item(shop, owner):
    bundle = bundle_of(
        entry(title="good"),
        entry(title="writes", sql="DELETE FROM orders"),
        entry(title="undeclared", sql=PARAM_SQL),
        entry(title="no table", sql="SELECT * FROM nowhere"),
        entry(title="bad chart", chart={"mark": "nonsense"}),
        entry(title="bad source", data_source="elsewhere"),
        entry(title="", type="spreadsheet"),
    )
    plan = plan_import(bundle, owner)
    assert not plan.ok
    problems = {item.index: " ".join(item.problems) for item in plan.items}
    assert problems[0] == ""
    assert "sql:" in problems[1]
    assert ":status" in problems[2]
    assert "nowhere" in problems[3]
    assert "chart:" in problems[4]
    assert "elsewhere" in problems[5]
    assert "title" in problems[6] and "type" in problems[6]
    with pytest.raises(BundleError):
        apply_import(plan)
    assert not Artifact.objects.exists()


def test_all_or_nothing_when_the_database_refuses_one(shop, owner):
    plan = plan_import(bundle_of(entry(title="one"), entry(title="two")), owner)
    assert plan.ok
    # A uid taken between the dry run and the import: the whole import rolls back.
    ArtifactFactory(owner=owner, uid=plan.items[1].artifact.uid)
    with pytest.raises(BundleError):
        apply_import(plan)
    assert not Artifact.objects.filter(title="one").exists()


def test_conflict_skip_leaves_the_existing_artifact(shop, owner):
    existing = ArtifactFactory(owner=owner, title="Mine")
    plan = plan_import(bundle_of(entry(uid=str(existing.uid), title="Theirs")), owner)
    assert [item.action for item in plan.items] == ["skip"]
    apply_import(plan)
    existing.refresh_from_db()
    assert existing.title == "Mine"


def test_conflict_update_changes_an_artifact_the_user_may_edit(shop, owner):
    existing = ArtifactFactory(owner=owner, title="Mine")
    bundle = bundle_of(entry(uid=str(existing.uid), title="Renamed", tags=["Weekly"]))
    plan = plan_import(bundle, owner, conflict="update")
    assert [item.action for item in plan.items] == ["update"]
    apply_import(plan)
    existing.refresh_from_db()
    assert existing.title == "Renamed"
    assert [t.name for t in existing.tags.all()] == ["Weekly"]
    assert Artifact.objects.count() == 1


def test_conflict_update_of_someone_elses_artifact_is_a_problem(shop, owner, other_user):
    theirs = ArtifactFactory(owner=other_user, title="Theirs")
    plan = plan_import(bundle_of(entry(uid=str(theirs.uid))), owner, conflict="update")
    assert not plan.ok
    assert "may not edit" in plan.items[0].problems[0]
    theirs.refresh_from_db()
    assert theirs.title == "Theirs"


def test_conflict_copy_gives_a_new_uid(shop, owner, other_user):
    theirs = ArtifactFactory(owner=other_user, title="Theirs")
    plan = plan_import(bundle_of(entry(uid=str(theirs.uid), title="Copy")), owner, "copy")
    assert plan.ok
    (copied,) = apply_import(plan)
    assert copied.uid != theirs.uid and copied.owner == owner
    assert Artifact.objects.count() == 2


def test_a_uid_listed_twice_is_a_problem(shop, owner):
    uid = str(uuid.uuid4())
    plan = plan_import(bundle_of(entry(uid=uid), entry(uid=uid)), owner)
    assert "listed twice" in plan.items[1].problems[0]


def test_too_many_artifacts_are_refused(shop, owner, settings):
    settings.BUNDLE_MAX_ARTIFACTS = 2
    plan = plan_import(bundle_of(entry(), entry(), entry()), owner)
    assert "limit is 2" in plan.problems[0]


def test_too_many_bytes_are_refused(settings):
    settings.BUNDLE_MAX_BYTES = 100
    with pytest.raises(BundleError, match="limit is 100 bytes"):
        load_bundle(json.dumps(bundle_of(entry())))


def test_not_json_is_refused():
    with pytest.raises(BundleError, match="cannot be read"):
        load_bundle(b"{nope")
    with pytest.raises(BundleError, match="cannot be read"):
        load_bundle(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(BundleError, match="cannot be read"):
        load_bundle(b'{"version": NaN}')


def test_a_newer_version_is_refused(shop, owner):
    plan = plan_import(bundle_of(entry(), version=2), owner)
    assert "newer than this site reads" in plan.problems[0]


def test_a_bundle_without_format_is_refused(shop, owner):
    plan = plan_import({"artifacts": [entry()]}, owner)
    assert 'no "format"' in plan.problems[0]


def test_an_older_version_goes_through_its_upgrade(shop, owner, monkeypatch):
    from apps.llm_artifact import bundles

    def from_v0(bundle: dict) -> dict:
        upgraded = copy.deepcopy(bundle)
        for item in upgraded["artifacts"]:
            item["sql"] = item.pop("query")
        return {**upgraded, "version": 1}

    monkeypatch.setitem(bundles.UPGRADES, 0, from_v0)
    old = entry()
    old["query"] = old.pop("sql")
    plan = plan_import(bundle_of(old, version=0), owner)
    assert plan.problems == ["The version must be a whole number from 1: got 0."]
    # Versions from 1 up are upgraded in turn: pretend this site reads version 2.
    monkeypatch.setattr(bundles, "VERSION", 2)
    monkeypatch.setitem(bundles.UPGRADES, 1, lambda b: {**b, "version": 2})
    upgraded = bundles.upgrade(bundle_of(entry(), version=1))
    assert upgraded["version"] == 2


def test_a_failed_status_is_imported_as_active(shop, owner):
    plan = plan_import(bundle_of(entry(status="failed")), owner)
    (artifact,) = apply_import(plan)
    assert artifact.status == "active"
    assert "imported as" in plan.items[0].notes[0]


def test_a_source_the_user_may_not_use_is_a_problem(shop, owner):
    policy = DataSourcePolicy.objects.create(source="marketplace")
    DataSourceGrant.objects.create(policy=policy, group=Group.objects.create(name="analysts"))
    plan = plan_import(bundle_of(entry()), owner)
    assert "may not use the data source" in plan.items[0].problems[0]


def test_a_table_the_source_does_not_expose_is_a_problem(shop, owner, staff):
    policy = DataSourcePolicy.objects.create(source="marketplace")
    ExposedTable.objects.create(policy=policy, name="customers")
    # Exposure belongs to the source: the guard refuses the table to everyone, staff too.
    for importer in (owner, staff):
        plan = plan_import(bundle_of(entry()), importer)
        assert "orders" in plan.items[0].problems[0]


def test_verified_is_stamped_by_the_importer(shop, owner):
    plan = plan_import(bundle_of(entry(verified=True, question="Orders per status?")), owner)
    (artifact,) = apply_import(plan)
    assert artifact.is_verified and artifact.verified_by == owner
    assert artifact.question == "Orders per status?"


def test_tags_reuse_the_existing_spelling(shop, owner):
    Tag.objects.create(name="Finance")
    (artifact,) = apply_import(plan_import(bundle_of(entry(tags=["finance"])), owner))
    assert [t.name for t in artifact.tags.all()] == ["Finance"]
    assert Tag.objects.count() == 1


def test_the_importer_owns_what_it_creates(shop, owner):
    someone = UserFactory()
    (artifact,) = apply_import(plan_import(bundle_of(entry()), someone))
    assert artifact.owner == someone and artifact.visibility == "private"


def test_a_long_wrong_value_is_quoted_short(shop, owner):
    plan = plan_import(bundle_of(entry(title="x" * 5000)), owner)
    (problem,) = plan.items[0].problems
    assert problem.startswith("title: ") and len(problem) < 400

"""Sharing over the artifacts API: every endpoint as each persona, writes re-authorised at
write time, visibility and shares as fields, scopes, the owner filter, transfers, history."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts.api.sharing import NOT_YOURS_TO_SHARE
from apps.accounts.models import SharingChange
from apps.accounts.sharing import Visibility, change_sharing
from apps.llm_artifact.models import Artifact, ArtifactShare
from tests.conftest import UserFactory
from tests.llm_artifact.factories import BAR, ArtifactFactory

pytestmark = pytest.mark.django_db

ORIGINAL_SQL = "SELECT status, COUNT(*) AS orders FROM orders GROUP BY status ORDER BY 2 DESC"
NEW_SQL = "SELECT status FROM orders"


@pytest.fixture
def shared(shop, owner, analysts, editors, staff):
    """The owner's artifact, shared with "analysts" to view and "analyst-editors" to edit."""
    artifact = ArtifactFactory(owner=owner, title="Shared orders", visualization_config=BAR)
    change_sharing(
        artifact,
        actor=owner,
        visibility=Visibility.GROUPS,
        shares={analysts: False, editors: True},
    )
    return artifact


@pytest.fixture
def personas(owner, group_viewer, group_editor, outsider, no_source_access, staff):
    return {
        "owner": owner,
        "group_viewer": group_viewer,
        "group_editor": group_editor,
        "outsider": outsider,
        "no_source_access": no_source_access,
        "staff": staff,
        "anonymous": None,
    }


def api_as(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def url(name: str, artifact: Artifact) -> str:
    return reverse(f"api:artifact-{name}", args=[artifact.pk])


def request(client: APIClient, endpoint: str, artifact: Artifact, owner_name: str = "staff"):
    """One request to `endpoint` of the artifact; streams are read to their end."""
    if endpoint == "retrieve":
        response = client.get(url("detail", artifact))
    elif endpoint == "runs":
        response = client.get(url("runs", artifact))
    elif endpoint == "execute":
        response = client.post(url("execute", artifact), {"params": {}}, format="json")
    elif endpoint == "export":
        response = client.get(url("export", artifact), {"format": "csv"})
    elif endpoint == "chart":
        response = client.get(url("chart", artifact), {"format": "svg"})
    elif endpoint == "patch_sql":
        response = client.patch(url("detail", artifact), {"sql_query": NEW_SQL}, format="json")
    elif endpoint == "patch_visibility":
        response = client.patch(url("detail", artifact), {"visibility": "everyone"}, format="json")
    elif endpoint == "transfer":
        response = client.post(url("transfer", artifact), {"owner": owner_name}, format="json")
    elif endpoint == "delete":
        response = client.delete(url("detail", artifact))
    else:  # pragma: no cover - a typo in the table below
        raise AssertionError(endpoint)
    if getattr(response, "streaming", False):
        # Read to its end, as a browser does: the test client then closes the response
        # itself. (response.close() again would send request_finished, whose handler closes
        # the test's PostgreSQL connection in the middle of its transaction.)
        b"".join(response.streaming_content)
    return response


READS = ["retrieve", "runs", "execute", "export", "chart"]
WRITES = ["patch_sql", "patch_visibility", "transfer", "delete"]
OK = {"retrieve": 200, "runs": 200, "execute": 200, "export": 200, "chart": 200}
OK_WRITES = {"patch_sql": 200, "patch_visibility": 200, "transfer": 200, "delete": 204}
# persona -> endpoint -> the status it gets.
EXPECTED = {
    "owner": {**OK, **OK_WRITES},
    "staff": {**OK, **OK_WRITES},
    "group_viewer": {**OK, **dict.fromkeys(WRITES, 403)},
    "group_editor": {**OK, "patch_sql": 200, **dict.fromkeys(WRITES[1:], 403)},
    "outsider": dict.fromkeys(READS + WRITES, 404),
    "no_source_access": dict.fromkeys(READS + WRITES, 404),
    "anonymous": dict.fromkeys(READS + WRITES, 401),
}


@pytest.mark.parametrize("persona", list(EXPECTED))
@pytest.mark.parametrize("endpoint", READS + WRITES)
def test_each_persona_gets_what_sharing_allows(persona, endpoint, shared, personas):
    expected = EXPECTED[persona][endpoint]
    before = Artifact.objects.get(pk=shared.pk)

    # Handed to the staff user, who exists for everyone; the owner's own handover included.
    response = request(api_as(personas[persona]), endpoint, shared)

    assert response.status_code == expected, response.content[:300]
    after = Artifact.objects.filter(pk=shared.pk).first()
    if expected >= 400:
        # Refused: nothing changed, and the refusal does not show the artifact.
        assert after is not None
        assert (after.sql_query, after.visibility, after.owner_id) == (
            before.sql_query,
            before.visibility,
            before.owner_id,
        )
        assert "Shared orders" not in response.content.decode(errors="replace")
    elif endpoint == "patch_sql":
        assert after.sql_query == NEW_SQL
    elif endpoint == "delete":
        assert after is None


def test_a_viewer_runs_with_their_own_values_and_the_run_is_theirs(shop, owner, group_viewer):
    artifact = ArtifactFactory(
        owner=owner,
        sql_query="SELECT COUNT(*) AS n FROM orders WHERE status = :status",
        query_params=[{"name": "status", "type": "string", "default": "paid"}],
        visibility=Visibility.EVERYONE,
    )

    response = api_as(group_viewer).post(
        url("execute", artifact), {"params": {"status": "shipped"}}, format="json"
    )

    assert response.status_code == 200
    run = artifact.runs.get(pk=response.json()["run_id"])
    assert run.user == group_viewer
    assert run.params == {"status": "shipped"}


def test_an_editor_whose_share_was_removed_after_reading_gets_403_and_changes_nothing(
    shared, owner, analysts, editors, group_editor
):
    client = api_as(group_editor)
    read = client.get(url("detail", shared))
    assert read.status_code == 200
    assert read.json()["can_edit"] is True

    # Between the read and the write, the owner makes the editors' share view-only.
    change_sharing(shared, actor=owner, shares={analysts: False, editors: False})
    response = client.patch(url("detail", shared), {"sql_query": NEW_SQL}, format="json")

    assert response.status_code == 403
    shared.refresh_from_db()
    assert shared.sql_query == ORIGINAL_SQL


def test_an_editor_whose_groups_lost_the_artifact_gets_404_and_changes_nothing(
    shared, owner, group_editor
):
    client = api_as(group_editor)
    assert client.get(url("detail", shared)).status_code == 200

    change_sharing(shared, actor=owner, visibility=Visibility.PRIVATE)
    response = client.patch(url("detail", shared), {"sql_query": NEW_SQL}, format="json")

    assert response.status_code == 404
    shared.refresh_from_db()
    assert shared.sql_query == ORIGINAL_SQL


# --- the fields ------------------------------------------------------------------------------


def test_the_artifact_shows_owner_visibility_shares_and_what_you_may_do(
    shared, analysts, editors, group_viewer, owner
):
    as_viewer = api_as(group_viewer).get(url("detail", shared)).json()
    as_owner = api_as(owner).get(url("detail", shared)).json()

    assert as_viewer["owner"] == "owner"
    assert as_viewer["visibility"] == "groups"
    assert as_viewer["shares"] == [
        {"group": editors.pk, "group_name": "analyst-editors", "access": "edit"},
        {"group": analysts.pk, "group_name": "analysts", "access": "view"},
    ]
    assert (as_viewer["can_edit"], as_viewer["can_manage"]) == (False, False)
    assert (as_owner["can_edit"], as_owner["can_manage"]) == (True, True)


def test_the_owner_shares_an_artifact_and_the_history_records_it(
    shop, owner, analysts, group_viewer
):
    owner.groups.add(analysts)
    artifact = ArtifactFactory(owner=owner, title="Soon shared")
    assert api_as(group_viewer).get(url("detail", artifact)).status_code == 404

    response = api_as(owner).patch(
        url("detail", artifact),
        {"visibility": "groups", "shares": [{"group": analysts.pk, "access": "view"}]},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["shares"] == [
        {"group": analysts.pk, "group_name": "analysts", "access": "view"}
    ]
    assert api_as(group_viewer).get(url("detail", artifact)).status_code == 200
    change = SharingChange.objects.get(subject_type="llm_artifact.artifact", subject_id=artifact.pk)
    assert change.actor == owner
    assert change.change == "visibility: private → groups; analysts: view"


def test_a_new_artifact_is_private_unless_its_owner_shares_it(shop, owner, analysts):
    owner.groups.add(analysts)
    client = api_as(owner)
    plain = client.post(
        reverse("api:artifact-list"), {"title": "Plain", "sql_query": NEW_SQL}, format="json"
    )
    shared = client.post(
        reverse("api:artifact-list"),
        {
            "title": "Shared at once",
            "sql_query": NEW_SQL,
            "visibility": "groups",
            "shares": [{"group": analysts.pk, "access": "edit"}],
        },
        format="json",
    )

    assert plain.status_code == 201
    assert (plain.json()["visibility"], plain.json()["shares"]) == ("private", [])
    assert shared.status_code == 201, shared.json()
    artifact = Artifact.objects.get(title="Shared at once")
    assert artifact.visibility == "groups"
    assert list(artifact.shares.values_list("group__name", "can_edit")) == [("analysts", True)]
    assert SharingChange.objects.filter(subject_id=artifact.pk, actor=owner).exists()


@pytest.mark.parametrize(
    ("share", "field_message"),
    [
        ({"group": 999_999, "access": "view"}, "You are in no group with id 999999."),
        ({"group": "analysts", "access": "view"}, "A valid integer is required: got text."),
        ({"group": None, "access": "admin"}, '"admin" is not a valid choice.'),
        # A misspelt access must not share for viewing only.
        ({"group": None, "can_edit": True}, "Not a field of a share."),
    ],
)
def test_a_bad_share_is_a_400_naming_the_problem(shop, owner, analysts, share, field_message):
    owner.groups.add(analysts)
    share = {**share, "group": analysts.pk} if share["group"] is None else share
    artifact = ArtifactFactory(owner=owner)

    response = api_as(owner).patch(url("detail", artifact), {"shares": [share]}, format="json")

    assert response.status_code == 400
    assert field_message in str(response.json()["shares"])
    assert not ArtifactShare.objects.filter(artifact=artifact).exists()


def test_the_same_group_twice_is_a_400(shop, owner, analysts):
    owner.groups.add(analysts)
    artifact = ArtifactFactory(owner=owner)
    twice = [{"group": analysts.pk, "access": "view"}, {"group": analysts.pk, "access": "edit"}]

    response = api_as(owner).patch(url("detail", artifact), {"shares": twice}, format="json")

    assert response.status_code == 400
    assert response.json()["shares"] == ["Each group may be listed only once."]


def test_a_group_the_owner_is_not_in_is_refused_like_a_missing_one(shop, owner, support):
    artifact = ArtifactFactory(owner=owner)

    response = api_as(owner).patch(
        url("detail", artifact), {"shares": [{"group": support.pk}]}, format="json"
    )
    missing = api_as(owner).patch(
        url("detail", artifact), {"shares": [{"group": support.pk + 1000}]}, format="json"
    )

    assert response.status_code == missing.status_code == 400
    assert response.json()["shares"]["0"]["group"] == [f"You are in no group with id {support.pk}."]
    assert not artifact.shares.exists()


def test_an_unknown_visibility_is_a_400(shop, owner):
    artifact = ArtifactFactory(owner=owner)

    response = api_as(owner).patch(url("detail", artifact), {"visibility": "world"}, format="json")

    assert response.status_code == 400
    assert "visibility" in response.json()
    artifact.refresh_from_db()
    assert artifact.visibility == "private"


def test_staff_may_share_with_any_group(shop, owner, staff, support):
    artifact = ArtifactFactory(owner=owner)

    response = api_as(staff).patch(
        url("detail", artifact),
        {"visibility": "groups", "shares": [{"group": support.pk}]},
        format="json",
    )

    assert response.status_code == 200
    assert SharingChange.objects.get(subject_id=artifact.pk).actor == staff


# --- lists: scope and owner ------------------------------------------------------------------


@pytest.fixture
def library(shop, owner, group_viewer, other_user, analysts):
    ArtifactFactory(owner=group_viewer, title="Viewer's own")
    ArtifactFactory(owner=owner, title="Owner private")
    shared = ArtifactFactory(owner=owner, title="Owner to analysts")
    change_sharing(shared, actor=owner, visibility=Visibility.GROUPS, shares={analysts: False})
    ArtifactFactory(owner=other_user, title="Other's for everyone", visibility="everyone")
    ArtifactFactory(owner=other_user, title="Other's private")


def titles(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["title"] for row in response.json()["results"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"Viewer's own", "Owner to analysts", "Other's for everyone"}),
        ({"scope": "mine"}, {"Viewer's own"}),
        ({"scope": "shared"}, {"Owner to analysts", "Other's for everyone"}),
        ({"scope": "everyone"}, {"Other's for everyone"}),
        ({"owner": "owner"}, {"Owner to analysts"}),
        ({"owner": "nobody-by-that-name"}, set()),
        ({"scope": "shared", "owner": "other"}, {"Other's for everyone"}),
    ],
)
def test_a_viewer_lists_by_scope_and_owner(library, group_viewer, query, expected):
    assert titles(api_as(group_viewer).get(reverse("api:artifact-list"), query)) == expected


def test_staff_list_their_own_and_shared_unless_they_ask_for_all(library, staff):
    client = api_as(staff)

    assert titles(client.get(reverse("api:artifact-list"))) == {"Other's for everyone"}
    assert len(titles(client.get(reverse("api:artifact-list"), {"scope": "all"}))) == 5


@pytest.mark.parametrize(
    ("scope", "message"),
    [("all", "Only staff may list every row (scope=all)."), ("ours", '"ours" is not a scope')],
)
def test_a_scope_a_user_may_not_use_is_a_400(library, group_viewer, scope, message):
    response = api_as(group_viewer).get(reverse("api:artifact-list"), {"scope": scope})

    assert response.status_code == 400
    assert message in response.json()["scope"][0]


def test_anonymous_lists_nothing(library):
    assert api_as(None).get(reverse("api:artifact-list"), {"scope": "everyone"}).status_code == 401


# --- ownership -------------------------------------------------------------------------------


def test_the_owner_hands_an_artifact_over_and_the_history_records_it(shop, owner, group_viewer):
    artifact = ArtifactFactory(owner=owner, title="Handed over")

    response = api_as(owner).post(
        url("transfer", artifact), {"owner": "group_viewer"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["owner"] == "group_viewer"
    artifact.refresh_from_db()
    assert artifact.owner == group_viewer
    change = SharingChange.objects.get(subject_id=artifact.pk)
    assert (change.actor, change.change) == (owner, "owner: owner → group_viewer")
    # Private still: the previous owner no longer sees it.
    assert api_as(owner).get(url("detail", artifact)).status_code == 404


@pytest.mark.parametrize(
    ("new_owner", "message"),
    [
        ("nobody-by-that-name", "There is no active user named nobody-by-that-name."),
        ("no_source_access", "no_source_access may not use the data source marketplace."),
    ],
)
def test_a_transfer_to_someone_who_cannot_have_it_is_a_400(
    shop, owner, no_source_access, new_owner, message
):
    artifact = ArtifactFactory(owner=owner)

    response = api_as(owner).post(url("transfer", artifact), {"owner": new_owner}, format="json")

    assert response.status_code == 400
    assert response.json()["owner"] == [message]
    artifact.refresh_from_db()
    assert artifact.owner == owner
    assert not SharingChange.objects.exists()


def test_an_inactive_user_cannot_be_given_an_artifact(shop, owner):
    UserFactory(username="gone", is_active=False)
    artifact = ArtifactFactory(owner=owner)

    response = api_as(owner).post(url("transfer", artifact), {"owner": "gone"}, format="json")

    assert response.status_code == 400


# --- groups ----------------------------------------------------------------------------------


def test_groups_lists_the_users_own_groups(group_viewer, support):
    Group.objects.create(name="finance")

    response = api_as(group_viewer).get(reverse("api:group-list"))

    assert response.status_code == 200
    assert [g["name"] for g in response.json()["results"]] == ["analysts"]
    assert response.json()["count"] == 1


def test_staff_list_every_group(staff, analysts, support):
    response = api_as(staff).get(reverse("api:group-list"))

    assert [g["name"] for g in response.json()["results"]] == ["analysts", "support"]


def test_anonymous_gets_no_groups(analysts):
    assert api_as(None).get(reverse("api:group-list")).status_code == 401


def test_an_editor_may_send_back_the_sharing_they_read(shared, group_editor):
    client = api_as(group_editor)
    body = client.get(url("detail", shared)).json()
    payload = {
        "title": "Renamed by the editor",
        "sql_query": body["sql_query"],
        "visibility": body["visibility"],
        "shares": [{"group": s["group"], "access": s["access"]} for s in body["shares"]],
    }

    response = client.put(url("detail", shared), payload, format="json")

    assert response.status_code == 200, response.json()
    shared.refresh_from_db()
    assert shared.title == "Renamed by the editor"
    assert SharingChange.objects.filter(subject_id=shared.pk).count() == 1


def test_an_editor_who_changes_a_share_is_refused_and_nothing_changes(
    shared, group_editor, analysts
):
    client = api_as(group_editor)
    body = client.get(url("detail", shared)).json()
    # The viewers' group made editors too.
    shares = [{"group": s["group"], "access": "edit"} for s in body["shares"]]

    response = client.patch(
        url("detail", shared), {"title": "Sneaky", "shares": shares}, format="json"
    )

    assert response.status_code == 403
    assert response.json() == {"detail": NOT_YOURS_TO_SHARE}
    shared.refresh_from_db()
    assert shared.title == "Shared orders"
    assert not shared.shares.get(group=analysts).can_edit

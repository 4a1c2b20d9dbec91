"""Sharing in the admin: shares inline on artifacts and chats, visibility in the forms and
filters, every change recorded in the sharing history with the operator as actor, and a
read-only history page."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.accounts.models import SharingChange
from apps.accounts.sharing import Visibility, change_sharing
from apps.llm_artifact.models import Artifact
from apps.llm_chat.models import Chat
from tests.conftest import group_named
from tests.llm_artifact.factories import ArtifactFactory, admin_form_data, share_forms
from tests.llm_chat.factories import ChatFactory

pytestmark = pytest.mark.django_db

HISTORY = reverse("admin:accounts_sharingchange_changelist")


def artifact_url(artifact: Artifact) -> str:
    return reverse("admin:llm_artifact_artifact_change", args=[artifact.pk])


def chat_url(chat: Chat) -> str:
    return reverse("admin:llm_chat_chat_change", args=[chat.pk])


def chat_form(chat: Chat, **changes) -> dict:
    data = {
        "title": chat.title,
        "owner": chat.owner_id,
        "agent": chat.agent_id,
        "visibility": chat.visibility,
        **share_forms(chat),
        "messages-TOTAL_FORMS": "0",
        "messages-INITIAL_FORMS": "0",
        "artifacts-TOTAL_FORMS": "0",
        "artifacts-INITIAL_FORMS": "0",
    }
    return {**data, **changes}


def test_an_operator_shares_an_artifact_and_the_history_names_them(
    staff_client, staff, owner, analysts
):
    artifact = ArtifactFactory(owner=owner)
    form = admin_form_data(
        artifact,
        visibility="groups",
        **{
            "shares-TOTAL_FORMS": "1",
            "shares-0-group": analysts.pk,
            "shares-0-can_edit": "on",
        },
    )

    response = staff_client.post(artifact_url(artifact), form)

    assert response.status_code == 302
    artifact.refresh_from_db()
    assert artifact.visibility == "groups"
    assert list(artifact.shares.values_list("group__name", "can_edit")) == [("analysts", True)]
    change = SharingChange.objects.get(subject_id=artifact.pk)
    assert change.actor == staff
    assert change.subject_type == "llm_artifact.artifact"
    assert change.change == "visibility: private → groups; analysts: edit"


def test_removing_a_share_and_changing_the_owner_are_recorded(
    staff_client, staff, owner, other_user, analysts
):
    artifact = ArtifactFactory(owner=owner)
    change_sharing(artifact, actor=owner, visibility=Visibility.GROUPS, shares={analysts: False})
    form = admin_form_data(artifact, owner=other_user.pk, **{"shares-0-DELETE": "on"})

    response = staff_client.post(artifact_url(artifact), form)

    assert response.status_code == 302
    artifact.refresh_from_db()
    assert artifact.owner == other_user
    assert not artifact.shares.exists()
    latest = SharingChange.objects.filter(subject_id=artifact.pk).first()
    assert latest.actor == staff
    assert latest.change == "owner: owner → other; analysts: view → removed"


def test_saving_without_a_sharing_change_records_nothing(staff_client, owner, analysts):
    artifact = ArtifactFactory(owner=owner)
    change_sharing(artifact, actor=owner, visibility=Visibility.GROUPS, shares={analysts: True})

    response = staff_client.post(artifact_url(artifact), admin_form_data(artifact, comment="Ok"))

    assert response.status_code == 302
    assert SharingChange.objects.filter(subject_id=artifact.pk).count() == 1
    artifact.refresh_from_db()
    assert artifact.comment == "Ok"
    assert list(artifact.shares.values_list("group__name", "can_edit")) == [("analysts", True)]


def test_the_same_group_twice_is_an_error_on_the_page(staff_client, owner, analysts):
    artifact = ArtifactFactory(owner=owner)
    form = admin_form_data(
        artifact,
        visibility="groups",
        **{
            "shares-TOTAL_FORMS": "2",
            "shares-0-group": analysts.pk,
            "shares-1-group": analysts.pk,
        },
    )

    response = staff_client.post(artifact_url(artifact), form)

    assert response.status_code == 200
    assert "Please correct the duplicate data for group" in response.content.decode()
    assert not artifact.shares.exists()
    assert not SharingChange.objects.exists()


def test_a_new_artifact_added_in_the_admin_records_its_sharing(staff_client, staff, owner):
    form = admin_form_data(
        Artifact(
            owner=owner,
            title="Made by ops",
            sql_query="SELECT 1 AS n",
            description="By ops.",
            data_source="marketplace",
        ),
        visibility="everyone",
    )

    response = staff_client.post(reverse("admin:llm_artifact_artifact_add"), form)

    assert response.status_code == 302, re.findall(
        r"errorlist[^<]*<li>([^<]*)", response.content.decode()
    )
    artifact = Artifact.objects.get(title="Made by ops")
    assert artifact.visibility == "everyone"
    assert SharingChange.objects.get(subject_id=artifact.pk).change == (
        "visibility: private → everyone"
    )


def test_an_operator_shares_a_chat_read_only(staff_client, staff, owner, analysts):
    chat = ChatFactory(owner=owner, title="How we got there")
    form = chat_form(
        chat, visibility="groups", **{"shares-TOTAL_FORMS": "1", "shares-0-group": analysts.pk}
    )

    response = staff_client.post(chat_url(chat), form)

    assert response.status_code == 302
    chat.refresh_from_db()
    assert chat.visibility == "groups"
    assert list(chat.shares.values_list("group__name", flat=True)) == ["analysts"]
    change = SharingChange.objects.get(subject_type="llm_chat.chat")
    assert (change.actor, change.change) == (staff, "visibility: private → groups; analysts: view")


def test_the_pages_show_visibility_and_shares_and_filter_by_visibility(
    staff_client, owner, analysts
):
    shared = ArtifactFactory(owner=owner, title="Shared one")
    change_sharing(shared, actor=owner, visibility=Visibility.GROUPS, shares={analysts: False})
    ArtifactFactory(owner=owner, title="Private one")
    chat = ChatFactory(owner=owner)

    page = staff_client.get(artifact_url(shared)).content.decode()
    chat_page = staff_client.get(chat_url(chat)).content.decode()
    filtered = staff_client.get(
        reverse("admin:llm_artifact_artifact_changelist"), {"visibility__exact": "groups"}
    ).content.decode()
    chats = staff_client.get(reverse("admin:llm_chat_chat_changelist"), {"visibility": "private"})

    assert 'name="visibility"' in page
    assert 'name="shares-0-group"' in page
    assert 'name="shares-0-can_edit"' in page
    assert 'name="shares-TOTAL_FORMS"' in chat_page
    assert 'name="shares-0-can_edit"' not in chat_page
    assert "Shared one" in filtered
    assert "Private one" not in filtered
    assert chats.status_code == 200


def test_staff_see_every_artifact_and_chat_in_the_admin(staff_client, owner, other_user):
    ArtifactFactory(owner=owner, title="Owner zq5")
    ArtifactFactory(owner=other_user, title="Other zq6")
    ChatFactory(owner=other_user, title="Other chat zq7")

    artifacts = staff_client.get(reverse("admin:llm_artifact_artifact_changelist")).content
    chats = staff_client.get(reverse("admin:llm_chat_chat_changelist")).content

    assert b"Owner zq5" in artifacts
    assert b"Other zq6" in artifacts
    assert b"Other chat zq7" in chats


# --- the history -----------------------------------------------------------------------------


def test_the_history_lists_who_changed_what_and_searches(staff_client, owner, analysts):
    artifact = ArtifactFactory(owner=owner, title="Revenue zq8")
    change_sharing(artifact, actor=owner, visibility=Visibility.EVERYONE)
    chat = ChatFactory(owner=owner, title="Chat zq9")
    change_sharing(chat, actor=owner, shares={analysts: False})

    listing = staff_client.get(HISTORY).content.decode()
    found = staff_client.get(HISTORY, {"q": "Revenue"}).content.decode()

    assert "visibility: private → everyone" in listing
    assert "analysts: view" in listing
    assert reverse("admin:llm_artifact_artifact_change", args=[artifact.pk]) in listing
    assert reverse("admin:llm_chat_chat_change", args=[chat.pk]) in listing
    assert "Revenue zq8" in found
    assert "Chat zq9" not in found


def test_the_history_cannot_be_added_changed_or_deleted(staff_client, owner):
    artifact = ArtifactFactory(owner=owner)
    change_sharing(artifact, actor=owner, visibility=Visibility.EVERYONE)
    change = SharingChange.objects.get()
    change_page = reverse("admin:accounts_sharingchange_change", args=[change.pk])
    delete_page = reverse("admin:accounts_sharingchange_delete", args=[change.pk])

    assert staff_client.get(reverse("admin:accounts_sharingchange_add")).status_code == 403
    assert staff_client.post(change_page, {"change": "rewritten"}).status_code == 403
    assert staff_client.post(delete_page, {"post": "yes"}).status_code == 403
    change.refresh_from_db()
    assert change.change == "visibility: private → everyone"


def test_the_history_is_not_for_users_who_are_not_staff(client, owner):
    client.force_login(owner)

    response = client.get(HISTORY)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_change_pages_cost_at_most_a_query_per_share(staff_client, owner, assert_get_queries):
    # The group picker reads each share's group by its id; nothing else grows with shares.
    artifact = ArtifactFactory(owner=owner)
    chat = ChatFactory(owner=owner)

    def share_with(count: int) -> None:
        groups = [group_named(f"team {n}") for n in range(count)]
        for row in (artifact, chat):
            shares = dict.fromkeys(groups, False)
            change_sharing(row, actor=owner, visibility=Visibility.GROUPS, shares=shares)

    # The artifact's page also reads its tags (the tags field): one query more than a chat's.
    share_with(1)
    assert_get_queries(staff_client, artifact_url(artifact), most=9 + 1)
    assert_get_queries(staff_client, chat_url(chat), most=8 + 1)
    share_with(8)
    assert_get_queries(staff_client, artifact_url(artifact), most=9 + 8)
    assert_get_queries(staff_client, chat_url(chat), most=8 + 8)

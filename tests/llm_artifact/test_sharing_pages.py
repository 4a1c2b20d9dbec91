"""The artifact pages with sharing, person by person (tests/conftest.py's sharing personas).

Who may see an artifact reads, runs it with their own values, exports and charts it; who may
edit it also changes its texts and chart; only its owner (and staff) delete it, share it or
hand it on. A row someone may not see answers 404 exactly like a missing one; a write they
may not make answers 403 with the reason, and changes nothing, asked again on every write.
"""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from apps.accounts.models import SharingChange
from apps.llm_artifact.models import Artifact, ArtifactRun, ArtifactShare
from tests.conftest import share
from tests.llm_artifact.factories import BAR, ArtifactFactory

pytestmark = pytest.mark.django_db

SQL = (
    "SELECT status, COUNT(*) AS orders FROM orders WHERE total >= :min_total "
    "GROUP BY status ORDER BY 2 DESC"
)
PARAMS = [{"name": "min_total", "type": "number", "default": 0}]
LIST_URL = reverse("llm_artifact:artifact_list")


@pytest.fixture
def artifact(shop, owner) -> Artifact:
    return ArtifactFactory(
        owner=owner, title="Orders per status", sql_query=SQL, query_params=PARAMS
    )


@pytest.fixture
def shared(artifact, team, editors) -> Artifact:
    """Shared with `team` to view and with `editors` to edit."""
    return share(artifact, team, editors, edit=[editors])


def url(name: str, artifact: Artifact, *args) -> str:
    return reverse(f"llm_artifact:{name}", args=[artifact.pk, *args])


def as_user(client, user):
    client.force_login(user)
    return client


def fresh(artifact: Artifact) -> Artifact:
    return Artifact.objects.get(pk=artifact.pk)


# --- Reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("owner", 200),
        ("group_viewer", 200),
        ("group_editor", 200),
        ("outsider", 404),
        ("no_source_access", 404),
        ("staff", 200),
    ],
)
def test_who_may_open_a_shared_artifact(client, shared, persona, status, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url("artifact_detail", shared)).status_code == status


def test_a_hidden_artifact_answers_like_a_missing_one(client, shared, outsider):
    client.force_login(outsider)
    hidden = client.get(url("artifact_detail", shared))
    missing = client.get(reverse("llm_artifact:artifact_detail", args=[shared.pk + 1000]))
    assert hidden.status_code == missing.status_code == 404
    # The same page, but for the CSRF token (masked afresh on every response) and the address
    # the language switcher returns to (each page's own, which its visitor typed).
    varying = re.compile(
        r'"X-CSRFToken": "[^"]+"|name="csrfmiddlewaretoken" value="[^"]+"'
        r'|name="next" value="[^"]+"'
    )
    assert varying.sub("", hidden.content.decode()) == varying.sub("", missing.content.decode())


def test_anonymous_visitors_are_sent_to_sign_in(client, shared):
    for name in ("artifact_detail", "artifact_share", "artifact_edit"):
        response = client.get(url(name, shared))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_a_private_artifact_keeps_its_shares_but_they_give_nothing(client, shared, group_viewer):
    shared.visibility = "private"
    shared.save(update_fields=["visibility"])
    assert as_user(client, group_viewer).get(url("artifact_detail", shared)).status_code == 404


def test_everyone_may_open_an_artifact_shared_with_everyone(client, artifact, outsider):
    share(artifact, visibility="everyone")
    assert as_user(client, outsider).get(url("artifact_detail", artifact)).status_code == 200


def test_a_viewer_sees_no_edit_controls(client, shared, group_viewer):
    page = as_user(client, group_viewer).get(url("artifact_detail", shared)).content.decode()
    assert 'id="artifact-view-only"' in page
    assert url("artifact_edit", shared) not in page
    assert 'id="artifact-chart"' not in page  # the chart editor
    assert url("artifact_share", shared) not in page
    assert url("artifact_delete", shared) not in page
    # What they may do is there: run and export, and who owns it.
    assert url("artifact_run", shared) in page
    assert url("artifact_export", shared, "csv") in page
    assert '<dd class="col-7" id="artifact-owner">owner</dd>' in page


def test_an_editor_sees_the_edit_controls_but_not_the_owners(client, shared, group_editor):
    page = as_user(client, group_editor).get(url("artifact_detail", shared)).content.decode()
    assert url("artifact_edit", shared) in page
    assert 'id="artifact-chart"' in page
    assert url("artifact_share", shared) not in page
    assert url("artifact_delete", shared) not in page


@pytest.mark.parametrize("persona", ["owner", "staff"])
def test_the_owner_and_staff_see_share_and_delete(client, shared, persona, request):
    client.force_login(request.getfixturevalue(persona))
    page = client.get(url("artifact_detail", shared)).content.decode()
    assert url("artifact_share", shared) in page and url("artifact_delete", shared) in page
    # Who sees it, in the details.
    assert "analysts · view" in page and "analyst-editors · edit" in page


def test_the_inline_editors_cancel_keeps_a_viewer_without_edit(client, shared, group_viewer):
    client.force_login(group_viewer)
    summary = client.get(url("artifact_detail", shared), headers={"HX-Request": "true"})
    assert summary.status_code == 200
    assert url("artifact_edit", shared) not in summary.content.decode()


# --- Running, exporting ----------------------------------------------------------------------


def test_a_viewer_runs_it_with_their_own_values(client, shared, group_viewer):
    client.force_login(group_viewer)
    response = client.post(url("artifact_run", shared), {"min_total": "50"})
    assert response.status_code == 200
    run = ArtifactRun.objects.get(artifact=shared)
    assert run.user == group_viewer and run.params == {"min_total": 50}
    assert fresh(shared).sql_query == SQL  # nothing of the artifact changed but its counts


def test_a_viewer_runs_it_from_a_card(client, shared, group_viewer):
    client.force_login(group_viewer)
    response = client.post(
        url("artifact_card_run", shared), {"min_total": "10"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert ArtifactRun.objects.filter(artifact=shared, user=group_viewer).count() == 1


def test_a_viewer_exports_it(client, shared, group_viewer):
    client.force_login(group_viewer)
    response = client.get(url("artifact_export", shared, "csv") + "?min_total=0")
    assert response.status_code == 200
    assert b"status,orders" in b"".join(response.streaming_content)


@pytest.mark.parametrize("persona", ["outsider", "no_source_access"])
def test_those_who_cannot_see_it_cannot_run_or_export_it(client, shared, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.post(url("artifact_run", shared), {"min_total": "0"}).status_code == 404
    assert client.post(url("artifact_card_run", shared), {}).status_code == 404
    assert client.get(url("artifact_export", shared, "csv")).status_code == 404
    assert not ArtifactRun.objects.exists()


# --- Editing ---------------------------------------------------------------------------------


def test_a_viewer_may_not_edit_and_nothing_changes(client, shared, group_viewer):
    client.force_login(group_viewer)
    assert client.get(url("artifact_edit", shared)).status_code == 403
    response = client.post(url("artifact_edit", shared), {"title": "Mine now", "status": "draft"})
    assert response.status_code == 403
    assert "ask its owner for edit access" in response.content.decode()
    assert fresh(shared).title == "Orders per status"


def test_a_viewer_may_not_save_a_chart(client, shared, group_viewer):
    client.force_login(group_viewer)
    for action in ("save", "remove", "check", "suggest"):
        response = client.post(url("artifact_chart", shared), {"action": action})
        assert response.status_code == 403
    assert fresh(shared).visualization_config == {}


def test_an_editor_edits_the_texts_and_the_chart(client, shared, group_editor):
    client.force_login(group_editor)
    response = client.post(
        url("artifact_edit", shared),
        {"title": "Orders per status, edited", "status": "draft", "description": "", "comment": ""},
    )
    assert response.status_code == 302
    assert fresh(shared).title == "Orders per status, edited"
    # The chart is checked against the latest result's columns: run it first.
    client.post(url("artifact_run", shared), {"min_total": "0"})
    response = client.post(
        url("artifact_chart", shared), {"action": "save", "visualization_config": json.dumps(BAR)}
    )
    assert response.status_code == 302
    assert fresh(shared).visualization_config == BAR


def test_an_edit_is_reauthorised_when_it_is_posted(client, shared, group_editor, editors):
    client.force_login(group_editor)
    assert client.get(url("artifact_edit", shared)).status_code == 200  # the form is shown
    ArtifactShare.objects.filter(artifact=shared, group=editors).update(can_edit=False)
    response = client.post(
        url("artifact_edit", shared),
        {"title": "Too late", "status": "draft"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 403
    assert fresh(shared).title == "Orders per status"


@pytest.mark.parametrize("persona", ["group_viewer", "group_editor"])
def test_only_the_owner_deletes(client, shared, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url("artifact_confirm_delete", shared)).status_code == 403
    response = client.post(url("artifact_delete", shared))
    assert response.status_code == 403
    assert "Only the artifact&#x27;s owner" in response.content.decode()
    assert Artifact.objects.filter(pk=shared.pk).exists()


def test_an_outsider_gets_404_on_every_write(client, shared, outsider):
    client.force_login(outsider)
    for name in ("artifact_edit", "artifact_chart", "artifact_delete", "artifact_share"):
        assert client.post(url(name, shared), {"title": "x"}).status_code == 404
    assert fresh(shared).title == "Orders per status"


# --- The Share dialog ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "status"),
    [("owner", 200), ("staff", 200), ("group_editor", 403), ("group_viewer", 403)],
)
def test_who_may_open_the_share_dialog(client, shared, persona, status, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url("artifact_share", shared)).status_code == status


def test_the_dialog_shows_the_owner_and_every_group_with_its_access(
    client, shared, owner, team, editors, other_team
):
    page = as_user(client, owner).get(url("artifact_share", shared)).content.decode()
    assert "Owner: <strong>owner</strong>" in page
    for group in (team, editors, other_team):
        assert f'name="group_{group.pk}"' in page
    assert '<option value="edit" selected>May edit</option>' in page
    # With htmx it is the modal alone, wired to post back in place.
    dialog = client.get(url("artifact_share", shared), headers={"HX-Request": "true"})
    assert dialog.content.decode().lstrip().startswith("<dialog")
    assert 'hx-post="' in dialog.content.decode()


def test_the_owner_shares_with_a_group_and_the_change_is_recorded(
    client, artifact, owner, team, group_viewer
):
    client.force_login(owner)
    response = client.post(
        url("artifact_share", artifact), {"visibility": "groups", f"group_{team.pk}": "view"}
    )
    assert response.status_code == 302 and response["Location"] == url("artifact_detail", artifact)
    assert fresh(artifact).visibility == "groups"
    assert list(artifact.shares.values_list("group__name", "can_edit")) == [("analysts", False)]
    change = SharingChange.objects.get()
    assert change.actor == owner and "analysts: view" in change.change
    assert as_user(client, group_viewer).get(url("artifact_detail", artifact)).status_code == 200


def test_groups_without_a_group_is_an_inline_error(client, artifact, owner):
    response = as_user(client, owner).post(
        url("artifact_share", artifact), {"visibility": "groups"}
    )
    assert response.status_code == 422
    assert "Choose at least one group" in response.content.decode()
    assert fresh(artifact).visibility == "private"


def test_only_groups_that_exist_are_shared_with(client, artifact, owner, team):
    client.force_login(owner)
    response = client.post(
        url("artifact_share", artifact),
        {"visibility": "groups", "group_99999": "edit", f"group_{team.pk}": "owner"},
    )
    assert response.status_code == 422  # "owner" is no access, and group 99999 is ignored
    assert not ArtifactShare.objects.exists()


def test_the_owner_hands_the_artifact_to_someone_else(client, artifact, owner, group_editor):
    client.force_login(owner)
    response = client.post(
        url("artifact_share", artifact), {"visibility": "private", "new_owner": "group_editor"}
    )
    # The artifact is no longer the owner's to see: back to the list.
    assert response.status_code == 302 and response["Location"] == LIST_URL
    assert fresh(artifact).owner == group_editor
    assert client.get(url("artifact_detail", artifact)).status_code == 404


def test_a_new_owner_must_exist_and_be_able_to_use_the_source(
    client, artifact, owner, no_source_access
):
    client.force_login(owner)
    unknown = client.post(
        url("artifact_share", artifact), {"visibility": "private", "new_owner": "nobody"}
    )
    assert unknown.status_code == 422 and "No active user" in unknown.content.decode()
    denied = client.post(
        url("artifact_share", artifact), {"visibility": "private", "new_owner": "no_source_access"}
    )
    assert denied.status_code == 422 and "may not use the data source" in denied.content.decode()
    assert fresh(artifact).owner == owner


def test_an_editor_may_not_post_sharing(client, shared, group_editor, other_team):
    client.force_login(group_editor)
    response = client.post(
        url("artifact_share", shared), {"visibility": "everyone", "new_owner": "group_editor"}
    )
    assert response.status_code == 403
    assert fresh(shared).visibility == "groups" and fresh(shared).owner.username == "owner"
    assert not SharingChange.objects.exists()


def test_an_htmx_save_reloads_the_page(client, artifact, owner):
    client.force_login(owner)
    response = client.post(
        url("artifact_share", artifact), {"visibility": "everyone"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == url("artifact_detail", artifact)


# --- The list --------------------------------------------------------------------------------


def titles(response) -> list[str]:
    return [a.title for a in response.context["page_obj"]]


@pytest.fixture
def rows(shared, owner, group_viewer, outsider):
    """The owner's shared artifact (returned), a private one, the viewer's own and an
    outsider's."""
    ArtifactFactory(owner=owner, title="Owner's private")
    ArtifactFactory(owner=group_viewer, title="Viewer's own")
    ArtifactFactory(owner=outsider, title="Outsider's own")
    return shared


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("", ["Orders per status", "Viewer's own"]),
        ("mine", ["Viewer's own"]),
        ("shared", ["Orders per status"]),
        ("everyone", []),
        ("all", ["Orders per status", "Viewer's own"]),  # staff only: ignored, reported
    ],
)
def test_the_viewers_scopes(client, rows, group_viewer, scope, expected):
    response = as_user(client, group_viewer).get(f"{LIST_URL}?scope={scope}")
    assert sorted(titles(response)) == expected


def test_staff_see_everything_only_when_they_ask(client, rows, staff):
    client.force_login(staff)
    assert titles(client.get(LIST_URL)) == []
    assert len(titles(client.get(f"{LIST_URL}?scope=all"))) == 4
    page = client.get(LIST_URL).content.decode()
    assert 'data-scope="all"' in page


def test_scope_tabs_keep_the_other_filters(client, rows, group_viewer):
    page = as_user(client, group_viewer).get(f"{LIST_URL}?q=orders&status=draft").content.decode()
    assert "?q=orders&amp;status=draft&amp;scope=shared" in page
    assert 'data-scope="all"' not in page  # not offered to non-staff


def test_shared_rows_carry_a_badge_and_their_owner(client, rows, group_viewer):
    response = as_user(client, group_viewer).get(f"{LIST_URL}?scope=shared")
    page = response.content.decode()
    assert page.count("shared-badge") == 1
    assert 'title="Shared with analyst-editors, analysts"' in page
    assert "?scope=shared&amp;owner=owner" in page  # the owner's name filters by them


def test_the_owner_filter(client, rows, group_viewer, owner):
    client.force_login(group_viewer)
    assert titles(client.get(f"{LIST_URL}?owner=OWNER")) == ["Orders per status"]
    assert titles(client.get(f"{LIST_URL}?owner=group_viewer")) == ["Viewer's own"]


def test_filters_never_reveal_what_a_user_cannot_see(client, rows, outsider):
    client.force_login(outsider)
    for query in ("owner=owner", "q=Orders+per+status", "scope=shared", "scope=everyone"):
        response = client.get(f"{LIST_URL}?{query}")
        assert "Orders per status" not in titles(response)
        assert f'href="{url("artifact_detail", rows)}"' not in response.content.decode()
    assert client.get(f"{LIST_URL}?owner=owner").context["page_obj"].paginator.count == 0


def test_filter_choices_offer_only_what_the_scope_shows(
    client, shared, owner, group_viewer, outsider
):
    from tests.llm_agent.factories import AgentFactory
    from tests.llm_chat.factories import ChatFactory

    agent = AgentFactory(name="Finance agent")
    chat = ChatFactory(owner=owner, agent=agent, title="Finance questions")
    Artifact.objects.filter(pk=shared.pk).update(agent=agent, chat=chat)
    client.force_login(outsider)
    page = client.get(LIST_URL).content.decode()
    assert "Finance agent" not in page and "Finance questions" not in page
    client.force_login(group_viewer)
    page = client.get(LIST_URL).content.decode()
    # The viewer may filter by the agent of an artifact shared with them; the chat it came
    # from is not theirs to see, so it is neither offered nor named in the row or the page.
    assert "Finance agent" in page and "Finance questions" not in page
    assert "Not shared" in page
    assert "Finance agent" not in client.get(f"{LIST_URL}?scope=mine").content.decode()
    detail = client.get(url("artifact_detail", shared)).content.decode()
    assert "Finance questions" not in detail and 'id="artifact-chat-hidden"' in detail
    # Once the chat is shared with them too, it is named and linked.
    share(chat, visibility="everyone")
    page = client.get(LIST_URL).content.decode()
    assert f'<a href="{chat.get_absolute_url()}">Finance questions</a>' in page


def test_the_chat_finder_keeps_to_the_scope(client, shared, owner, group_viewer):
    from tests.llm_chat.factories import ChatFactory

    theirs = share(ChatFactory(owner=owner, title="Owner's public chat"), visibility="everyone")
    Artifact.objects.filter(pk=shared.pk).update(chat=theirs)
    ArtifactFactory(owner=group_viewer, chat=ChatFactory(owner=group_viewer, title="Viewer chat"))
    client.force_login(group_viewer)
    options = reverse("llm_artifact:artifact_chat_options")
    mine = client.get(f"{options}?scope=mine&chat_q=chat").content.decode()
    assert "Viewer chat" in mine and "Owner&#x27;s public chat" not in mine
    others = client.get(f"{options}?scope=shared&chat_q=chat").content.decode()
    assert "Viewer chat" not in others and "Owner&#x27;s public chat" in others
    page = client.get(LIST_URL).content.decode()
    assert 'hx-include="#id_chat, [name=scope]"' in page


@pytest.mark.parametrize("sort", ["chat", "-chat"])
def test_sorting_by_chat_never_places_a_hidden_chat_title(client, shared, group_viewer, sort):
    from tests.llm_chat.factories import ChatFactory

    # The owner's private chat sorts first by its title, but the viewer may not see it.
    hidden = ChatFactory(owner=shared.owner, title="Aaa hidden")
    Artifact.objects.filter(pk=shared.pk).update(chat=hidden)
    for title in ("Bbb", "Zzz"):
        chat = ChatFactory(owner=group_viewer, title=title)
        ArtifactFactory(owner=group_viewer, chat=chat, title=f"In {title}")
    client.force_login(group_viewer)
    shown = titles(client.get(f"{LIST_URL}?sort={sort}"))
    expected = ["In Bbb", "In Zzz"] if sort == "chat" else ["In Zzz", "In Bbb"]
    # Like an artifact without a chat: last, whichever the direction.
    assert shown == [*expected, "Orders per status"]


def test_a_card_run_keeps_the_shared_badge(client, shared, group_viewer, artifact):
    client.force_login(group_viewer)
    response = client.post(
        url("artifact_card_run", shared), {"min_total": "0"}, headers={"HX-Request": "true"}
    )
    assert "shared-badge" in response.content.decode()
    private = ArtifactFactory(owner=group_viewer, sql_query=SQL, query_params=PARAMS)
    response = client.post(url("artifact_card_run", private), {}, headers={"HX-Request": "true"})
    assert "shared-badge" not in response.content.decode()

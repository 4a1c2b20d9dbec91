"""Cards that follow the conversation: when the agent runs a saved artifact with other
values ("and the cancelled ones?"), the link of its reply keeps them; the card shows them,
runs with them and lets the user change them; and cards of one artifact agree on its
statistics."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_chat.agent import ArtifactSaved, run_turn_sync
from apps.llm_chat.models import Message, MessageArtifact
from apps.llm_chat.services import post_user_message
from tests.fakes.scripted import Call, Say, ScriptedModel, tool_text
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

HTMX = {"HX-Request": "true"}
BY_STATUS = "SELECT id, total FROM orders WHERE status = :status ORDER BY id"


@pytest.fixture
def chat(owner, shop):
    return ChatFactory(owner=owner)


@pytest.fixture
def orders(chat) -> Artifact:
    return ArtifactFactory(
        owner=chat.owner,
        chat=chat,
        agent=chat.agent,
        title="Orders in a status",
        sql_query=BY_STATUS,
        query_params=[
            {"name": "status", "type": "string", "label": "Status", "default": "delivered"}
        ],
    )


def ask(chat, content: str, script: ScriptedModel):
    return run_turn_sync(chat, post_user_message(chat, content=content), model=script.model)


def card_html(content: str, dom_id: str) -> str:
    start = content.index(f'id="{dom_id}"')
    return content[start : content.index("</section>", start)]


def test_the_agent_runs_an_artifact_with_values_and_the_link_keeps_them(chat, orders):
    def answer(messages):
        text = tool_text(messages)
        assert text.startswith(f"Ran artifact #{orders.pk} “Orders in a status” with status=")
        assert "60.0" in text  # the cancelled order's total, not the delivered ones
        return Say("One order was cancelled, worth 60.")

    script = ScriptedModel(
        Call("run_artifact", {"artifact_id": orders.pk, "params": {"status": "cancelled"}}),
        answer,
    )
    outcome = ask(chat, "And the cancelled ones?", script)

    link = MessageArtifact.objects.get(message=outcome.reply)
    assert (link.action, link.params) == ("executed", {"status": "cancelled"})
    run = ArtifactRun.objects.get()
    assert run.params == {"status": "cancelled"} and run.row_count == 1
    assert [e.action for e in outcome.events if isinstance(e, ArtifactSaved)] == ["executed"]


def test_bad_values_go_back_to_the_model_and_nothing_runs(chat, orders):
    orders.query_params = [{"name": "status", "type": "string", "required": True}]
    orders.save()

    def retry(messages):
        assert "Nothing ran. Fix these values" in tool_text(messages)
        return Say("I need a status.")

    ask(chat, "Run it", ScriptedModel(Call("run_artifact", {"artifact_id": orders.pk}), retry))
    assert not ArtifactRun.objects.exists()
    assert not MessageArtifact.objects.exists()


def test_an_artifact_of_another_user_is_out_of_reach(chat, other_user):
    theirs = ArtifactFactory(owner=other_user)

    def refused(messages):
        assert f"There is no artifact #{theirs.pk}" in tool_text(messages)
        return Say("Not found.")

    ask(chat, "Run #", ScriptedModel(Call("run_artifact", {"artifact_id": theirs.pk}), refused))
    assert not ArtifactRun.objects.exists()


@pytest.fixture
def two_cards(chat, orders):
    """The artifact made in one reply, then run for the cancelled orders in the next."""
    made = MessageFactory(chat=chat, role=Message.Role.ASSISTANT, content="Saved it.")
    made.link_artifact(orders, Message.ArtifactAction.CREATED)
    again = MessageFactory(chat=chat, role=Message.Role.ASSISTANT, content="The cancelled ones.")
    again.link_artifact(orders, Message.ArtifactAction.EXECUTED, params={"status": "cancelled"})
    return made, again


def test_each_card_shows_the_values_of_its_message_with_an_id_of_its_own(
    owner_client, chat, orders, two_cards
):
    made, again = two_cards
    content = owner_client.get(chat.get_absolute_url()).content.decode()

    first = card_html(content, f"artifact-card-{orders.pk}-{made.pk}")
    second = card_html(content, f"artifact-card-{orders.pk}-{again.pk}")
    assert 'name="status" value="delivered"' in first
    assert 'name="status" value="cancelled"' in second
    # Ids stay unique on the page although both cards show the same artifact.
    ids = re.findall(r'id="([^"]+)"', content)
    assert len(ids) == len(set(ids))


def test_a_card_runs_with_the_values_posted_from_it(owner_client, orders, two_cards):
    _, again = two_cards
    url = f"/artifacts/{orders.pk}/card-run/"
    response = owner_client.post(
        url, {"status": "cancelled", "action": "executed", "card": again.pk}, headers=HTMX
    )
    content = response.content.decode()
    assert response.status_code == 200
    assert f'id="artifact-card-{orders.pk}-{again.pk}"' in content
    assert 'name="status" value="cancelled"' in content  # the card keeps its values
    assert '<td class="cell-num">60' in content and "12.5" not in content
    assert ArtifactRun.objects.get().params == {"status": "cancelled"}


def test_a_card_run_updates_the_statistics_of_every_card_of_the_artifact(owner_client, orders):
    content = owner_client.post(
        f"/artifacts/{orders.pk}/card-run/", {"status": "paid"}, headers=HTMX
    ).content.decode()
    selector = f"outerHTML:[data-artifact-stats='{orders.pk}']"
    oob = content[content.index(f'hx-swap-oob="{selector}"') :]
    assert "1 run</span>" in oob and "Last run" in oob


def test_a_card_value_of_the_wrong_type_is_shown_on_its_input(owner_client, chat):
    artifact = ArtifactFactory(
        owner=chat.owner,
        sql_query="SELECT id FROM orders WHERE total >= :minimum",
        query_params=[{"name": "minimum", "type": "number", "default": 0}],
    )
    content = owner_client.post(
        f"/artifacts/{artifact.pk}/card-run/", {"minimum": "lots"}, headers=HTMX
    ).content.decode()
    assert "expected a number" in content
    assert 'value="lots"' in content
    assert not ArtifactRun.objects.exists()


def test_a_card_run_without_javascript_opens_the_page_with_the_values_in_its_url(
    owner_client, orders
):
    response = owner_client.post(f"/artifacts/{orders.pk}/card-run/", {"status": "paid"})
    assert response.status_code == 302
    assert response.url == f"{orders.get_absolute_url()}?status=paid#artifact-run-panel"


def test_the_agent_declares_choices_and_runs_only_allowed_values(chat):
    declaration = {"name": "status", "type": "string", "choices": ["paid", "cancelled"]}

    def run_outside(messages):
        assert tool_text(messages).startswith("Saved artifact #")
        saved = Artifact.objects.get()
        assert saved.query_params == [{**declaration, "label": "", "required": False}]
        return Call("run_artifact", {"artifact_id": saved.pk, "params": {"status": "lost"}})

    def refused(messages):
        assert "is not one of the allowed values ('paid', 'cancelled')" in tool_text(messages)
        return Say("Only paid or cancelled.")

    script = ScriptedModel(
        Call("save_artifact", {"title": "By status", "sql": BY_STATUS, "params": [declaration]}),
        run_outside,
        refused,
    )
    ask(chat, "Orders by status", script)
    assert not ArtifactRun.objects.exists()


def test_the_api_gives_each_link_its_values(owner_api, chat, two_cards):
    made, again = two_cards
    response = owner_api.get(reverse("api:chat-messages", args=[chat.pk]))
    links = {m["id"]: m["artifacts"] for m in response.json()["results"]}
    assert links[made.pk][0]["params"] == {}
    assert links[again.pk][0]["params"] == {"status": "cancelled"}


def test_search_tells_the_agent_the_parameters_it_can_run_with(chat, orders):
    orders.query_params = [{**orders.query_params[0], "choices": ["delivered", "cancelled"]}]
    orders.save()

    def read(messages):
        assert (
            "Parameters (run_artifact takes values for them): "
            "status (string, one of delivered, cancelled, default delivered)"
        ) in tool_text(messages)
        return Say("Found it.")

    ask(chat, "Orders?", ScriptedModel(Call("search_artifacts", {"query": "orders"}), read))


def test_the_admin_shows_the_values_of_each_link(staff_client, two_cards):
    _, again = two_cards
    url = reverse("admin:llm_chat_message_change", args=[again.pk])
    content = staff_client.get(url).content.decode()
    assert "cancelled" in content and "Params" in content


def test_a_bad_card_value_without_javascript_opens_the_page_with_it_and_its_error(
    owner_client, chat
):
    artifact = ArtifactFactory(
        owner=chat.owner,
        sql_query="SELECT id FROM orders WHERE total >= :minimum",
        query_params=[{"name": "minimum", "type": "number", "label": "Minimum", "default": 0}],
    )
    response = owner_client.post(f"/artifacts/{artifact.pk}/card-run/", {"minimum": "lots"})
    assert response.url == f"{artifact.get_absolute_url()}?minimum=lots#artifact-run-panel"
    page = owner_client.get(response.url).content.decode()
    assert "needs values for Minimum" in page
    assert 'value="lots"' in page and "expected a number" in page
    assert not ArtifactRun.objects.exists()

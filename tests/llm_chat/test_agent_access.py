"""The agent obeys data-source access, against the fake provider on loopback (the real SDK).

The `marketplace` shop exposes only `orders`, without its `status` column: every tool shows
only that, refuses the rest by name and tells the model to say so to the user. A chat whose
agent or data source its owner may no longer use is refused before the model is asked.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.datasources.models import DataSourceGrant, DataSourcePolicy, ExposedTable
from apps.llm_agent.models import ModelCall
from apps.llm_artifact.models import Artifact
from apps.llm_chat.agent import run_turn_sync
from apps.llm_chat.agent.tools import SAY_NOT_AVAILABLE
from apps.llm_chat.models import Message
from apps.llm_chat.services import post_user_message
from tests.llm_artifact.factories import ArtifactFactory

NOT_AVAILABLE = "The table `categories` is not available in this data source."


@pytest.fixture
def orders_only(db):
    policy = DataSourcePolicy.objects.create(source="marketplace")
    ExposedTable.objects.create(policy=policy, name="orders", hidden_columns=["status"])


def ask(chat, content: str = "What do the categories earn?"):
    return run_turn_sync(chat, post_user_message(chat, content=content))


def tool_results(request: dict) -> list[str]:
    """The tool results the SDK sent back to the provider in one request."""
    return [m["content"] for m in request["json"]["messages"] if m["role"] == "tool"]


def test_every_tool_refuses_the_hidden_table_and_the_model_is_told_to_say_so(
    chat, server, owner, orders_only
):
    from tests.fakes.llm_server import call, say

    # Saved before the operators hid the table: it cannot run any more.
    old = ArtifactFactory(
        owner=owner, data_source="marketplace", sql_query="SELECT name FROM categories"
    )
    server.queue(
        call("list_tables", {}),
        call("describe_table", {"name": "categories"}),
        call("run_sql", {"sql": "SELECT name FROM categories"}),
        call("run_sql", {"sql": "SELECT name FROM sqlite_master"}),
        call("run_sql", {"sql": "SELECT status FROM orders"}),
        call("run_sql", {"sql": "SELECT * FROM orders"}),
        call("save_artifact", {"title": "Categories", "sql": "SELECT name FROM categories"}),
        call("run_artifact", {"artifact_id": old.pk}),
        say("The categories are not available to you in this data source."),
    )

    outcome = ask(chat)

    assert outcome.reply.status == Message.Status.COMPLETE, outcome.reply.error
    assert outcome.reply.content == "The categories are not available to you in this data source."
    # The instructions tell the model what to do with such a refusal.
    instructions = json.dumps(server.requests[0]["json"]["messages"][0])
    assert "tell the user that this data is not available to them" in instructions

    results = tool_results(server.requests[-1])
    listing, described, plain, catalog, column, star, saved, ran = results
    assert listing == "orders(id INTEGER, category_id INTEGER, ordered_at TEXT, total REAL)"
    assert described.startswith(NOT_AVAILABLE.removesuffix("."))
    assert "Tables: orders." in described
    assert plain.startswith(f"The query was refused: {NOT_AVAILABLE}")
    assert "The table `sqlite_master` is not available" in catalog
    assert "The column `status` of `orders` is not available" in column
    assert "list the columns you need instead: id, category_id, ordered_at, total" in star
    assert NOT_AVAILABLE in saved and "Nothing was saved" in saved
    assert NOT_AVAILABLE in ran
    for result in (described, plain, catalog, column, star, saved, ran):
        assert SAY_NOT_AVAILABLE in result
    assert list(Artifact.objects.values_list("pk", flat=True)) == [old.pk]


def test_a_turn_is_refused_when_the_owner_may_no_longer_use_the_agent(chat, server):
    # The question was posted before the operators limited the agent to a group.
    question = post_user_message(chat, content="And last month?")
    chat.agent.groups.add(Group.objects.create(name="support"))

    outcome = run_turn_sync(chat, question)

    assert outcome.reply.status == Message.Status.ERROR
    assert f"The agent {chat.agent.name!r} is not available to you" in outcome.reply.error
    assert "can be read but not continued" in outcome.reply.error
    assert server.requests == []  # the model was never asked
    assert not ModelCall.objects.filter(outcome=ModelCall.Outcome.ERROR).exists()


def test_a_turn_is_refused_when_the_owner_may_not_use_the_data_source(chat, server):
    question = post_user_message(chat, content="And last month?")
    policy = DataSourcePolicy.objects.create(source="marketplace")
    DataSourceGrant.objects.create(policy=policy, group=Group.objects.create(name="finance"))

    outcome = run_turn_sync(chat, question)

    assert outcome.reply.status == Message.Status.ERROR
    assert "works on the data source 'marketplace', which is not available to you" in (
        outcome.reply.error
    )
    assert server.requests == []


def test_such_a_chat_can_be_read_but_not_posted_in(chat, server, owner_client, owner_api):
    chat.agent.groups.add(Group.objects.create(name="support"))
    refusal = f"The agent {chat.agent.name!r} is not available to you"

    with pytest.raises(ValidationError) as caught:
        post_user_message(chat, content="And last month?")
    assert refusal in caught.value.message_dict["content"][0]

    read = owner_client.get(chat.get_absolute_url())
    assert read.status_code == 200
    # The page says why instead of offering a composer whose every message is refused.
    assert 'id="composer-refused"' in read.content.decode()
    assert refusal.replace("'", "&#x27;") in read.content.decode()
    assert 'id="composer"' not in read.content.decode()
    page = owner_client.post(
        reverse("llm_chat:message_create", args=[chat.pk]), {"content": "And last month?"}
    )
    assert page.status_code == 422
    assert refusal.replace("'", "&#x27;") in page.content.decode()

    assert owner_api.get(reverse("api:chat-detail", args=[chat.pk])).status_code == 200
    api = owner_api.post(
        reverse("api:chat-messages", args=[chat.pk]), {"content": "And?"}, format="json"
    )
    assert api.status_code == 400
    assert refusal in api.json()["content"][0]
    assert not Message.objects.filter(chat=chat).exists()
    assert server.requests == []


def test_a_member_of_the_granted_group_chats_as_before(chat, server, owner):
    from tests.fakes.llm_server import say

    finance = Group.objects.create(name="finance")
    owner.groups.add(finance)
    policy = DataSourcePolicy.objects.create(source="marketplace")
    DataSourceGrant.objects.create(policy=policy, group=finance)
    chat.agent.groups.add(finance)
    server.queue(say("Hello."))

    assert ask(chat).reply.status == Message.Status.COMPLETE

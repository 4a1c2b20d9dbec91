"""The chat list, the chat page and its composer, as users see them."""

from __future__ import annotations

import re

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from apps.llm_agent.providers import PUBLIC_UNREACHABLE
from apps.llm_chat import views
from apps.llm_chat.models import Chat, Message
from tests.conftest import PASSWORD, UserFactory, share
from tests.llm_agent.factories import AgentFactory
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

HTMX = {"HX-Request": "true"}
WAITING = "Your question is saved; the agent has not answered it yet."


@pytest.fixture
def chat(owner):
    return ChatFactory(owner=owner, title="Revenue questions")


def chat_url(chat: Chat) -> str:
    return reverse("llm_chat:chat_detail", args=[chat.pk])


def post_url(chat: Chat) -> str:
    return reverse("llm_chat:message_create", args=[chat.pk])


def with_card(chat: Chat, **artifact_fields) -> tuple[Message, object]:
    artifact = ArtifactFactory(owner=chat.owner, chat=chat, agent=chat.agent, **artifact_fields)
    message = MessageFactory(
        chat=chat,
        role=Message.Role.ASSISTANT,
        content="Saved the query.",
        artifact=artifact,
        artifact_action=Message.ArtifactAction.CREATED,
    )
    return message, artifact


# --- Anonymous visitors are sent to the sign-in page ---------------------------------------


@pytest.mark.parametrize(
    ("method", "name", "needs_chat"),
    [
        ("get", "llm_chat:chat_list", False),
        ("post", "llm_chat:chat_create", False),
        ("get", "llm_chat:chat_detail", True),
        ("post", "llm_chat:message_create", True),
    ],
)
def test_anonymous_is_redirected_to_sign_in(client, chat, method, name, needs_chat):
    url = reverse(name, args=[chat.pk] if needs_chat else [])
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert Message.objects.count() == 0


def test_home_leads_to_the_chat_list(owner_client):
    response = owner_client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == reverse("llm_chat:chat_list")


# --- Chat list -------------------------------------------------------------------------------


def test_chat_list_shows_own_chats_newest_first_with_counts(owner_client, owner, other_user):
    older = ChatFactory(owner=owner, title="Older chat")
    newer = ChatFactory(owner=owner, title="Newer chat")
    Chat.objects.filter(pk=older.pk).update(updated_at=timezone.now() - timezone.timedelta(days=1))
    MessageFactory.create_batch(3, chat=newer)
    ArtifactFactory.create_batch(2, owner=owner, chat=newer)
    ChatFactory(owner=other_user, title="Someone else's chat")

    response = owner_client.get(reverse("llm_chat:chat_list"))

    assert response.status_code == 200
    page = list(response.context["page_obj"])
    assert page == [newer, older]
    assert (page[0].message_count, page[0].artifact_count) == (3, 2)
    content = response.content.decode()
    assert "Someone else&#x27;s chat" not in content
    assert content.index("Newer chat") < content.index("Older chat")
    assert '3<span class="visually-hidden"> messages</span>' in content


def test_staff_see_every_chat_with_its_owner(client, staff, owner, other_user):
    ChatFactory(owner=owner, title="Owner's chat")
    ChatFactory(owner=other_user, title="Other's chat")
    client.force_login(staff)
    # Staff's list shows their own and shared chats; "Everything" shows every chat.
    assert "Owner&#x27;s chat" not in client.get(reverse("llm_chat:chat_list")).content.decode()

    response = client.get(reverse("llm_chat:chat_list") + "?scope=all")

    content = response.content.decode()
    assert "Owner&#x27;s chat" in content and "Other&#x27;s chat" in content
    assert 'aria-hidden="true"></i>owner</span>' in content
    assert "All chats" in content


def test_chat_list_offers_only_active_agents(owner_client):
    AgentFactory(name="Active helper")
    AgentFactory(name="Retired helper", is_active=False)
    content = owner_client.get(reverse("llm_chat:chat_list")).content.decode()
    assert "Active helper" in content
    assert "Retired helper" not in content


def test_chat_list_is_paginated(owner_client, owner):
    ChatFactory.create_batch(27, owner=owner)
    first = owner_client.get(reverse("llm_chat:chat_list"))
    second = owner_client.get(reverse("llm_chat:chat_list"), {"page": 2})
    assert len(first.context["page_obj"]) == 25
    assert len(second.context["page_obj"]) == 2
    # A page number that is not one falls back to a real page instead of failing.
    assert owner_client.get(reverse("llm_chat:chat_list"), {"page": "x"}).status_code == 200


# --- Starting a chat -------------------------------------------------------------------------


def test_start_a_chat_with_its_first_question(owner_client, owner):
    agent = AgentFactory(name="Analyst")
    response = owner_client.post(
        reverse("llm_chat:chat_create"),
        {"agent": agent.pk, "content": "How many orders were cancelled in March? By week."},
    )
    chat = Chat.objects.get()
    assert response.status_code == 302
    assert response.url == chat_url(chat)
    assert (chat.owner, chat.agent) == (owner, agent)
    assert chat.title == "How many orders were cancelled in March?"
    question = chat.messages.get()
    assert (question.role, question.content) == (
        "user",
        "How many orders were cancelled in March? By week.",
    )


@pytest.mark.parametrize("agent_value", ["", "inactive", "999999", "not-a-number"])
def test_starting_a_chat_needs_an_active_agent(owner_client, agent_value):
    AgentFactory(name="Analyst")
    inactive = AgentFactory(name="Retired", is_active=False)
    value = str(inactive.pk) if agent_value == "inactive" else agent_value
    response = owner_client.post(reverse("llm_chat:chat_create"), {"agent": value, "content": "x"})
    assert response.status_code == 422
    assert Chat.objects.count() == 0
    content = response.content.decode()
    assert "is-invalid" in content
    assert "Choose the agent to talk to." in content or "Select a valid choice" in content


def test_start_chat_is_post_only(owner_client):
    assert owner_client.get(reverse("llm_chat:chat_create")).status_code == 405


# --- The chat page ---------------------------------------------------------------------------


def test_owner_sees_messages_in_order(owner_client, chat):
    MessageFactory(chat=chat, content="First question")
    MessageFactory(chat=chat, role=Message.Role.ASSISTANT, content="First answer")
    MessageFactory(chat=chat, content="Second question")

    response = owner_client.get(chat_url(chat))

    assert response.status_code == 200
    content = response.content.decode()
    positions = [content.index(text) for text in ("First question", "First answer", "Second")]
    assert positions == sorted(positions)
    assert content.count("chat-message-user") == 2
    # The answer, and the placeholder where the reply to the second question will stream.
    assert content.count("chat-message-assistant") == 2
    assert content.count('id="reply-to-') == 1


def test_other_user_gets_404(client, other_user, chat):
    client.force_login(other_user)
    assert client.get(chat_url(chat)).status_code == 404


def test_staff_can_open_any_chat(client, staff, chat):
    MessageFactory(chat=chat, content="Owner's question")
    client.force_login(staff)
    response = client.get(chat_url(chat))
    assert response.status_code == 200
    assert "Owner&#x27;s question" in response.content.decode()


def test_unknown_chat_is_404(owner_client):
    assert owner_client.get(reverse("llm_chat:chat_detail", args=[424242])).status_code == 404


def test_artifact_card_shows_the_artifact(owner_client, chat):
    _, artifact = with_card(
        chat,
        title="Orders by status",
        status="draft",
        sql_query="SELECT status, COUNT(*) FROM orders\nGROUP BY status",
        execution_count=7,
        last_executed_at=timezone.now(),
    )

    content = owner_client.get(chat_url(chat)).content.decode()

    assert f'data-artifact-card="{artifact.pk}"' in content
    assert "Orders by status" in content
    assert "SQL query" in content
    assert 'class="badge text-bg-secondary">Draft</span>' in content
    assert '<span class="artifact-action">Created</span>' in content
    assert 'class="sql-highlight"' in content
    # Pygments wraps keywords in styled spans: the SQL really is highlighted.
    assert "SELECT</span>" in content
    assert "7 runs" in content
    assert "Last run" in content
    assert f'href="{artifact.get_absolute_url()}"' in content


def test_artifact_card_shows_only_the_first_lines_of_sql(owner_client, chat):
    columns = [f"  {word}_col," for word in ("one", "two", "three", "four", "five", "six")]
    with_card(chat, sql_query="\n".join(["SELECT", *columns, "  1 FROM orders"]))
    content = owner_client.get(chat_url(chat)).content.decode()
    assert "five_col" in content
    assert "six_col" not in content
    assert "…" in content


def test_a_message_that_made_several_artifacts_shows_a_card_for_each(owner_client, chat):
    message = MessageFactory(chat=chat, role=Message.Role.ASSISTANT, content="Two queries.")
    first = ArtifactFactory(owner=chat.owner, chat=chat, title="First query")
    second = ArtifactFactory(owner=chat.owner, chat=chat, title="Second query")
    message.link_artifact(first, Message.ArtifactAction.CREATED)
    message.link_artifact(second, Message.ArtifactAction.UPDATED)

    content = owner_client.get(chat_url(chat)).content.decode()

    assert content.count('class="artifact-card card') == 2
    assert f'id="artifact-card-{first.pk}-{message.pk}"' in content
    assert f'id="artifact-card-{second.pk}-{message.pk}"' in content
    assert '<span class="artifact-action">Updated</span>' in content


def test_a_never_run_artifact_says_so(owner_client, chat):
    with_card(chat)
    content = owner_client.get(chat_url(chat)).content.decode()
    assert "0 runs" in content
    assert "Never run" in content


def test_llm_content_is_escaped(owner_client, chat):
    MessageFactory(
        chat=chat,
        role=Message.Role.ASSISTANT,
        content='<script>alert("reply")</script><img src=x onerror=alert(1)>',
    )
    with_card(chat, title="<script>alert('title')</script>", sql_query="SELECT '<script>'")

    content = owner_client.get(chat_url(chat)).content.decode()

    assert "<script>alert" not in content
    assert "<img src=x" not in content
    # Assistant text is sanitised Markdown: raw HTML stays text (quotes need no escaping there).
    assert '&lt;script&gt;alert("reply")&lt;/script&gt;' in content
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt;" in content


def test_a_user_message_without_reply_is_shown_as_waiting(owner_client, chat):
    question = MessageFactory(chat=chat, content="Anyone there?")
    content = owner_client.get(chat_url(chat)).content.decode()
    assert WAITING in content
    # chat.js streams the reply from here; without JavaScript the form asks for it.
    stream = reverse("llm_chat:message_stream", args=[chat.pk, question.pk])
    reply = reverse("llm_chat:message_reply", args=[chat.pk, question.pk])
    assert f'data-stream-url="{stream}"' in content
    assert f'action="{reply}"' in content


def test_staff_see_a_waiting_question_without_starting_its_turn(client, staff, chat):
    MessageFactory(chat=chat, content="Anyone there?")
    client.force_login(staff)
    content = client.get(chat_url(chat)).content.decode()
    assert "Waiting for the agent's reply." in content
    assert "data-stream-url" not in content and WAITING not in content


def test_no_waiting_notice_once_the_agent_replied(owner_client, chat):
    MessageFactory(chat=chat, content="Question")
    MessageFactory(chat=chat, role=Message.Role.ASSISTANT, content="Answer")
    assert WAITING not in owner_client.get(chat_url(chat)).content.decode()


def test_an_empty_chat_invites_a_question(owner_client, chat):
    content = owner_client.get(chat_url(chat)).content.decode()
    assert "No messages yet" in content
    assert WAITING not in content


@pytest.mark.parametrize("count", [5, 300])
def test_chat_page_runs_a_fixed_number_of_queries(owner_client, chat, count, assert_get_queries):
    for n in range(count):
        MessageFactory(chat=chat, content=f"Question {n}")
        with_card(chat)
    # Session, user, the chat with its agent and owner, the messages with their main
    # artifacts, their artifact links, which of the artifacts the user may see and their
    # shares (the cards' "shared" badge), and whether the owner may still use the agent
    # (post_refused). (The first, uncounted view stores the replies' HTML, which later views
    # read.)
    assert_get_queries(owner_client, chat_url(chat), most=8)
    # The latest page only: 50 messages, 25 of them replies with a card.
    shown = min(count, views.MESSAGES_PER_PAGE // 2)
    assert owner_client.get(chat_url(chat)).content.decode().count("artifact-card ") == shown


@pytest.mark.parametrize("count", [5, 300])
def test_a_shared_chat_page_runs_a_fixed_number_of_queries(
    client, chat, team, group_viewer, count, assert_get_queries
):
    share(chat, team)
    for n in range(count):
        MessageFactory(chat=chat, content=f"Question {n}")
        _, artifact = with_card(chat)
        if n % 2:
            share(artifact, team)
    client.force_login(group_viewer)
    # As for the owner, plus the user's groups and the chat's shares (its "shared" badge).
    assert_get_queries(client, chat_url(chat), most=9)
    content = client.get(chat_url(chat)).content.decode()
    shown = min(count, views.MESSAGES_PER_PAGE // 2)
    hidden = content.count("artifact-card-hidden")
    assert hidden + content.count('class="artifact-card-title"') == shown
    assert 0 < hidden < shown
    # Every card they may see is of an artifact shared with them: each has the badge.
    assert content.count("shared-badge") == shown - hidden + 1  # and the chat's own


# --- The composer ----------------------------------------------------------------------------


def test_posting_without_javascript_runs_the_turn_and_redirects_to_the_reply(owner_client, chat):
    # The factory's agent points at 127.0.0.1:9, where nothing answers: the reply says so.
    response = owner_client.post(post_url(chat), {"content": "How many orders?"})
    message, reply = Message.objects.order_by("id")
    assert response.status_code == 302
    assert response.url == f"{chat_url(chat)}#message-{reply.pk}"
    assert (message.chat, message.role, message.content) == (chat, "user", "How many orders?")
    assert (reply.role, reply.status, reply.reply_to) == ("assistant", "error", message)
    page = owner_client.get(response.url).content.decode()
    assert "How many orders?" in page
    assert PUBLIC_UNREACHABLE in page
    assert "127.0.0.1:9" not in page  # where the provider is, is for operators
    assert reverse("llm_chat:message_reply", args=[chat.pk, message.pk]) in page  # Retry


def test_posting_with_htmx_returns_the_message_to_append(owner_client, chat):
    response = owner_client.post(
        post_url(chat), {"content": "How many <b>orders</b>?"}, headers=HTMX
    )

    assert response.status_code == 200
    message = Message.objects.get()
    content = response.content.decode()
    assert content.lstrip().startswith(f'<article id="message-{message.pk}"')
    assert "How many &lt;b&gt;orders&lt;/b&gt;?" in content
    assert "<html" not in content
    # The reply's placeholder follows (chat.js streams into it, the turn is not run here)
    # and a fresh, empty composer comes along out of band.
    stream = reverse("llm_chat:message_stream", args=[chat.pk, message.pk])
    assert f'<article id="reply-to-{message.pk}"' in content
    assert f'data-stream-url="{stream}"' in content
    assert 'id="composer"' in content and 'hx-swap-oob="true"' in content
    assert "How many &lt;b&gt;orders&lt;/b&gt;?</textarea>" not in content


def test_posting_moves_the_chat_to_the_top(owner_client, owner, chat):
    other_chat = ChatFactory(owner=owner)
    owner_client.post(post_url(chat), {"content": "Bump"})
    assert list(Chat.objects.visible_to(owner)) == [chat, other_chat]


@pytest.mark.parametrize("content", ["", "   \n  "])
def test_an_empty_message_is_an_inline_error_with_htmx(owner_client, chat, content):
    response = owner_client.post(post_url(chat), {"content": content}, headers=HTMX)

    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#composer"
    assert response.headers["HX-Reswap"] == "outerHTML"
    body = response.content.decode()
    assert body.lstrip().startswith('<form id="composer"')
    assert "Write a message before sending it." in body
    assert Message.objects.count() == 0


def test_an_empty_message_is_an_inline_error_without_javascript(owner_client, chat):
    MessageFactory(chat=chat, content="Earlier question")
    response = owner_client.post(post_url(chat), {"content": ""})
    assert response.status_code == 422
    body = response.content.decode()
    assert "Write a message before sending it." in body
    assert "Earlier question" in body  # the whole chat page, not a fragment
    assert Message.objects.count() == 1


def test_a_too_long_message_keeps_what_was_typed(owner_client, chat):
    text = "x" * 10_001
    response = owner_client.post(post_url(chat), {"content": text}, headers=HTMX)
    assert response.status_code == 422
    assert f">{text}</textarea>" in response.content.decode()
    assert Message.objects.count() == 0


def test_other_user_cannot_post_in_a_chat(client, other_user, chat):
    client.force_login(other_user)
    response = client.post(post_url(chat), {"content": "Let me in"}, headers=HTMX)
    assert response.status_code == 404
    assert Message.objects.count() == 0


def test_staff_read_but_cannot_post_in_someone_elses_chat(client, staff, chat):
    client.force_login(staff)
    page = client.get(chat_url(chat)).content.decode()
    assert 'id="composer"' not in page
    assert "only they can write in it" in page
    response = client.post(post_url(chat), {"content": "From support"})
    assert response.status_code == 403
    assert "You cannot do that" in response.content.decode()
    assert Message.objects.count() == 0


def test_posting_is_post_only(owner_client, chat):
    assert owner_client.get(post_url(chat)).status_code == 405


def test_a_new_user_sees_an_empty_chat_list(client, chat):
    client.force_login(UserFactory(username="newcomer"))
    response = client.get(reverse("llm_chat:chat_list"))
    assert response.status_code == 200
    assert "No chats yet" in response.content.decode()


# --- Sign-in, navigation and error pages (templates/) ----------------------------------------


def test_sign_in_page_signs_in_and_leads_to_the_chats(client, owner):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert 'name="username"' in page.content.decode()
    response = client.post(reverse("login"), {"username": "owner", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("llm_chat:chat_list")


def test_sign_in_with_a_wrong_password_says_so(client, owner):
    response = client.post(reverse("login"), {"username": "owner", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password." in response.content.decode()


def test_sign_in_returns_to_the_page_asked_for(client, owner, chat):
    response = client.get(chat_url(chat))
    response = client.post(
        response.url, {"username": "owner", "password": PASSWORD, "next": chat_url(chat)}
    )
    assert response.url == chat_url(chat)


def test_sign_out_is_a_post_that_leads_to_sign_in(owner_client):
    page = owner_client.get(reverse("llm_chat:chat_list")).content.decode()
    assert f'<form method="post" action="{reverse("logout")}"' in page
    response = owner_client.post(reverse("logout"))
    assert response.status_code == 302
    assert response.url == reverse("login")
    assert owner_client.get(reverse("llm_chat:chat_list")).status_code == 302


def test_navbar_links_and_admin_only_for_staff(client, owner, staff):
    client.force_login(owner)
    page = client.get(reverse("llm_chat:chat_list")).content.decode()
    for name in ("llm_chat:chat_list", "llm_artifact:artifact_list", "api-docs"):
        assert f'href="{reverse(name)}"' in page
    assert f'href="{reverse("admin:index")}"' not in page
    client.force_login(staff)
    page = client.get(reverse("llm_chat:chat_list")).content.decode()
    assert f'href="{reverse("admin:index")}"' in page


def test_pages_load_assets_from_staticfiles_and_send_csrf_from_body(owner_client):
    page = owner_client.get(reverse("llm_chat:chat_list")).content.decode()
    assert "/static/vendor/bootstrap/css/bootstrap.min.css" in page
    assert "/static/vendor/htmx/htmx.min.js" in page
    assert "/static/vendor/bootstrap-icons/bootstrap-icons.min.css" in page
    assert "cdn" not in page.lower()
    assert re.search(r"<body[^>]*hx-headers='\{\"X-CSRFToken\": \"[^\"]+\"\}'", page)


def test_404_page_is_ours(owner_client):
    response = owner_client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_500_page_renders_without_a_request():
    html = render_to_string("500.html")
    assert "Something went wrong on our side" in html


def test_a_too_long_message_is_refused_by_the_page_and_the_api_alike(owner_client, owner_api, chat):
    # One rule on Message: the same words on both faces, and no "write a message" beside them.
    text = "x" * 10_001
    page = owner_client.post(post_url(chat), {"content": text}, headers=HTMX)
    api = owner_api.post(
        reverse("api:chat-messages", args=[chat.pk]), {"content": text}, format="json"
    )

    assert (page.status_code, api.status_code) == (422, 400)
    (reason,) = api.json()["content"]
    assert "at most 10000 characters" in reason
    body = page.content.decode()
    assert reason in body
    assert "Write a message before sending it." not in body
    assert Message.objects.count() == 0


def test_staff_are_refused_posting_by_the_page_and_the_api_alike(client, staff, staff_api, chat):
    client.force_login(staff)
    page = client.post(post_url(chat), {"content": "From support"})
    api = staff_api.post(
        reverse("api:chat-messages", args=[chat.pk]), {"content": "From support"}, format="json"
    )

    assert (page.status_code, api.status_code) == (403, 403)
    assert api.json()["detail"] == "Only the chat's owner can post in it."
    assert Message.objects.count() == 0

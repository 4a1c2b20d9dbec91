"""What end users see of the operators' set-up (issue 9, section 2): nothing.

An agent whose base URL carries credentials (user:password and an api_key in the query) and
whose server is down (a closed port). Every face a user reaches shows plain words and a
reference; the operators' faces (admin, model-call log, server log) show the detail with the
credentials masked. The stored URL itself is untouched: the provider gets it as configured.
"""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from apps.llm_agent.models import ModelCall
from apps.llm_agent.providers import PUBLIC_UNREACHABLE
from apps.llm_chat.models import Message
from apps.llm_chat.services import post_user_message
from tests.conftest import UserFactory
from tests.llm_chat.factories import ChatFactory
from tests.llm_chat.test_api_turn import messages_url, parse_events
from tests.llm_chat.test_api_turn import stream as api_stream
from tests.llm_chat.test_streaming import stream as page_stream

pytestmark = pytest.mark.django_db

# Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
SECRET_URL = "http://llmuser:hunter2pass@127.0.0.1:9/v1?api_key=qs-token-77"
MASKED_URL = "http://***@127.0.0.1:9/v1?api_key=***"
KEY = "sk-shop-0123456789"
SECRETS = ("llmuser", "hunter2pass", "qs-token-77", KEY)
# Set-up detail that belongs to operators.
OPERATORS_ONLY = (
    "127.0.0.1",
    "README",
    "LLM_BASE_URL",
    "SHOP_KEY",
    "Ollama",
    "ModelConnectionError",
)


@pytest.fixture
def chat(owner, shop, monkeypatch):
    monkeypatch.setenv("SHOP_KEY", KEY)
    chat = ChatFactory(owner=owner, agent__base_url=SECRET_URL, agent__api_key_env="SHOP_KEY")
    return chat


def assert_plain_words(text: str) -> None:
    assert text.startswith(PUBLIC_UNREACHABLE), text
    for secret in SECRETS + OPERATORS_ONLY:
        assert secret not in text, secret


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


def failed_call() -> ModelCall:
    return ModelCall.objects.get(outcome=ModelCall.Outcome.ERROR)


def assert_operators_get_the_detail(call: ModelCall, reply: Message) -> None:
    assert call.message == reply
    assert f"Could not reach the model server at {MASKED_URL}" in call.error
    assert "LLM_BASE_URL" in call.error and "README" in call.error
    assert_no_secret(call.error)
    assert reply.error == f"{PUBLIC_UNREACHABLE} (Reference: model call {call.pk}.)"


# --- The agents API --------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner_api", "other_api", "staff_api"])
def test_agents_api_masks_the_base_url_for_everyone(request, persona, chat):
    client = request.getfixturevalue(persona)

    listing = client.get(reverse("api:agent-list"))
    detail = client.get(reverse("api:agent-detail", args=[chat.agent.pk]))

    assert listing.status_code == detail.status_code == 200
    assert_no_secret(listing.content.decode() + detail.content.decode())
    assert detail.json()["base_url"] == MASKED_URL
    assert [row["base_url"] for row in listing.json()["results"]] == [MASKED_URL]
    # The variable's name is set-up detail too: staff only.
    assert ("api_key_env" in detail.json()) is (persona == "staff_api")


def test_staff_sending_the_masked_url_back_keeps_the_credentials(staff_api, chat):
    url = reverse("api:agent-detail", args=[chat.agent.pk])
    agent = staff_api.get(url).json()
    agent["description"] = "Edited through the API."

    response = staff_api.put(url, agent, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["base_url"] == MASKED_URL
    chat.agent.refresh_from_db()
    assert (chat.agent.base_url, chat.agent.description) == (SECRET_URL, "Edited through the API.")


def test_staff_can_still_replace_the_url(staff_api, chat):
    url = reverse("api:agent-detail", args=[chat.agent.pk])

    response = staff_api.patch(url, {"base_url": "http://other:pw2@127.0.0.1:9/v2"}, format="json")

    assert response.json()["base_url"] == "http://***@127.0.0.1:9/v2"
    chat.agent.refresh_from_db()
    assert chat.agent.base_url == "http://other:pw2@127.0.0.1:9/v2"


# --- The user's faces: API message, the API's stream, the page and its stream ----------------


def test_api_message_error_is_plain_words_with_a_reference(owner_api, chat, caplog):
    with caplog.at_level(logging.WARNING, logger="apps.llm_chat"):
        response = owner_api.post(messages_url(chat), {"content": "Revenue?"}, format="json")

    assert response.status_code == 201
    _, reply = response.json()
    assert reply["status"] == "error"
    assert_plain_words(reply["error"])
    assert_no_secret(response.content.decode())
    assert_operators_get_the_detail(failed_call(), Message.objects.get(pk=reply["id"]))
    # The server log is for operators: the detail, masked.
    assert MASKED_URL in caplog.text
    assert_no_secret(caplog.text)


def test_api_stream_error_event_is_plain_words(owner, chat):
    response, body = api_stream(owner, messages_url(chat), {"content": "Revenue?"})

    assert response.status_code == 200
    error = next(data for name, data in parse_events(body) if name == "error")
    assert_plain_words(error["reason"])
    assert_no_secret(body)
    reply = Message.objects.get(role="assistant")
    assert reply.error == error["reason"]
    assert_operators_get_the_detail(failed_call(), reply)


def test_chat_page_shows_plain_words(owner_client, chat):
    response = owner_client.post(
        reverse("llm_chat:message_create", args=[chat.pk]), {"content": "Revenue?"}, follow=True
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert PUBLIC_UNREACHABLE in page
    for secret in SECRETS + OPERATORS_ONLY:
        assert secret not in page, secret
    assert_operators_get_the_detail(failed_call(), Message.objects.get(role="assistant"))


def test_page_stream_error_event_is_plain_words(owner, chat):
    question = post_user_message(chat, content="Revenue?")

    _, events = page_stream(owner, chat, question)

    name, error = events[-1]
    assert name == "error"
    assert_plain_words(error["reason"])
    assert_no_secret(error["html"])
    assert PUBLIC_UNREACHABLE in error["html"]


# --- The operators' faces: the admin --------------------------------------------------------


def test_model_call_admin_shows_the_detail_masked(client, staff, owner_api, chat):
    owner_api.post(messages_url(chat), {"content": "Revenue?"}, format="json")
    call = failed_call()
    client.force_login(staff)

    changelist = client.get(reverse("admin:llm_agent_modelcall_changelist"))
    page = client.get(reverse("admin:llm_agent_modelcall_change", args=[call.pk]))

    assert changelist.status_code == page.status_code == 200
    assert MASKED_URL.replace("&", "&amp;") in page.content.decode()
    assert "README" in page.content.decode()
    assert_no_secret(changelist.content.decode() + page.content.decode())


def test_model_call_admin_masks_rows_logged_before_masking(client, staff, chat):
    call = ModelCall.objects.create(
        agent=chat.agent,
        model_name="m",
        provider=chat.agent.provider,
        started_at="2026-01-01T00:00:00Z",
        latency_ms=1,
        outcome=ModelCall.Outcome.ERROR,
        error=f"Could not reach the model server at {SECRET_URL}.",
    )
    client.force_login(staff)

    page = client.get(reverse("admin:llm_agent_modelcall_change", args=[call.pk]))

    assert "Could not reach the model server at http://***@127.0.0.1:9/v1" in page.content.decode()
    assert_no_secret(page.content.decode())


def test_agent_admin_list_masks_and_the_edit_form_keeps_the_real_value(client, staff, chat):
    client.force_login(staff)

    changelist = client.get(reverse("admin:llm_agent_agent_changelist"))
    form = client.get(reverse("admin:llm_agent_agent_change", args=[chat.agent.pk]))

    assert MASKED_URL.replace("&", "&amp;") in changelist.content.decode()
    assert_no_secret(changelist.content.decode())
    # Operators change the credentials in the form: it must hold them to edit them.
    assert SECRET_URL.replace("&", "&amp;") in form.content.decode()


def test_agent_admin_read_only_view_masks(client, chat):
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_agent"))
    client.force_login(viewer)

    page = client.get(reverse("admin:llm_agent_agent_change", args=[chat.agent.pk]))

    assert page.status_code == 200
    assert MASKED_URL.replace("&", "&amp;") in page.content.decode()
    assert_no_secret(page.content.decode())


def test_test_connection_reports_the_detail_masked(client, staff, chat):
    client.force_login(staff)

    response = client.post(
        reverse("admin:llm_agent_agent_changelist"),
        {"action": "test_connection", "_selected_action": [chat.agent.pk]},
        follow=True,
    )

    page = response.content.decode()
    assert f"Could not reach the model server at {MASKED_URL}".replace("&", "&amp;") in page
    assert_no_secret(page)
    assert_no_secret(ModelCall.objects.get().error)


def test_staff_reading_a_failed_reply_get_a_link_to_its_model_calls(client, staff, shop):
    chat = ChatFactory(owner=staff, agent__base_url=SECRET_URL)
    client.force_login(staff)
    client.post(reverse("llm_chat:message_create", args=[chat.pk]), {"content": "Revenue?"})
    reply = Message.objects.get(role="assistant")

    page = client.get(reverse("llm_chat:chat_detail", args=[chat.pk])).content.decode()
    link = f"{reverse('admin:llm_agent_modelcall_changelist')}?message__id__exact={reply.pk}"
    calls = client.get(link)

    assert f'href="{link}"' in page
    assert calls.status_code == 200
    assert f"/{failed_call().pk}/change/" in calls.content.decode()


def test_users_get_no_link_to_the_admin(owner_client, chat):
    owner_client.post(reverse("llm_chat:message_create", args=[chat.pk]), {"content": "Revenue?"})

    page = owner_client.get(reverse("llm_chat:chat_detail", args=[chat.pk])).content.decode()

    assert "chat-error-calls" not in page and "/admin/" not in page

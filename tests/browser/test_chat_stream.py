"""The chat, live, in a browser: ask, watch the reply stream in with the agent's steps and the
artifact card, open the artifact and run it; and when no provider answers, see why, reload
without losing the question, and retry.

The app runs under uvicorn (asgi_server) so the reply really streams; the agent talks to the
loopback fake provider, which sends the text slowly enough to watch it grow.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.llm_agent.providers import PUBLIC_UNREACHABLE
from apps.llm_artifact.models import Artifact
from apps.llm_chat.models import Message
from tests.browser.test_pages_flow import sign_in
from tests.conftest import UserFactory
from tests.fakes.datasource import build_shop
from tests.fakes.llm_server import FakeLLMServer, call, say
from tests.llm_chat.factories import ChatFactory

pytestmark = pytest.mark.browser

TOP_SQL = (
    "SELECT c.name AS category, SUM(o.total) AS revenue\n"
    "FROM orders o JOIN categories c ON c.id = o.category_id\n"
    "GROUP BY c.name ORDER BY revenue DESC"
)
ANSWER = [
    "**Games** ",
    "lead ",
    "with ",
    "105.0 ",
    "in revenue, ",
    "then ",
    "Books ",
    "and ",
    "Garden.\n\n",
    "| Category | Revenue |\n",
    "|:--|--:|\n",
    "| Games | 105.0 |\n",
    "| Books | 42.5 |\n",
    "\nThe query is saved as an artifact.",
]


@pytest.fixture
def provider():
    with FakeLLMServer("openai") as server:
        yield server


@pytest.fixture
def analyst_chat(asgi_server, provider, tmp_path: Path, settings):
    shop = build_shop(tmp_path / "shop.sqlite3")
    settings.DATA_SOURCES = f"marketplace=sqlite:///{shop}"
    user = UserFactory(username="analyst")
    chat = ChatFactory(owner=user, title="Revenue")
    chat.agent.base_url = provider.base_url
    chat.agent.save()
    return chat


def ask(page: Page, chat, question: str) -> None:
    sign_in(page)
    page.goto(chat.get_absolute_url())
    page.get_by_label("Message").fill(question)
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".chat-message-user").last).to_contain_text(question)


def test_a_reply_streams_in_with_its_steps_and_artifact_then_runs(
    asgi_page: Page, analyst_chat, provider
):
    page = asgi_page
    provider.queue(
        call("list_tables", {}),
        call("run_sql", {"sql": TOP_SQL}),
        call(
            "save_artifact",
            {"title": "Revenue by category", "sql": TOP_SQL, "description": "Top first."},
        ),
        say(*ANSWER),
    )
    provider.chunk_delay = 0.12

    ask(page, analyst_chat, "What are the top categories by revenue?")

    reply = page.locator("article.chat-message-assistant").last
    # The agent's steps show as they happen.
    activity = reply.locator(".chat-activity")
    expect(activity).to_contain_text("Listing tables")
    expect(activity).to_contain_text("Ran SQL (3 rows)")
    expect(activity).to_contain_text("Saved artifact “Revenue by category”")
    # The card is in the reply as soon as the artifact is saved, before the text is done.
    artifact = Artifact.objects.get(title="Revenue by category")
    card = reply.locator(f"[data-artifact-card='{artifact.pk}']")
    expect(card).to_be_visible()
    expect(card).to_contain_text("Created artifact")
    # The text grows: its start is on the page while its end has not arrived yet.
    expect(reply.locator(".chat-bubble")).to_contain_text("Games")
    partial = reply.locator(".chat-bubble").inner_text()
    assert "saved as an artifact" not in partial
    expect(reply).to_have_class(re.compile(r"\bchat-message-pending\b"))

    # Done: the server's rendering takes over, Markdown table included.
    final = page.locator(f"#message-{Message.objects.get(role='assistant').pk}")
    expect(final).not_to_have_class(re.compile(r"\bchat-message-pending\b"))
    expect(final.locator(".chat-bubble")).to_contain_text("The query is saved as an artifact.")
    expect(final.locator(".chat-bubble strong")).to_have_text("Games")
    expect(final.locator(".chat-bubble table td.text-end").first).to_have_text("105.0")
    expect(final.locator(".chat-activity-log summary")).to_have_text("3 steps")
    expect(final.locator(f"[data-artifact-card='{artifact.pk}']")).to_be_visible()
    saved = Message.objects.get(role="assistant")
    assert saved.status == Message.Status.COMPLETE
    assert saved.content == "".join(ANSWER)

    # Open the artifact and run it.
    final.locator(f"[data-artifact-card='{artifact.pk}']").get_by_role(
        "link", name="Open artifact"
    ).click()
    expect(page).to_have_url(re.compile(rf"/artifacts/{artifact.pk}/$"))
    panel = page.locator("#artifact-run-panel")
    panel.get_by_role("button", name="Run").click()
    table = panel.locator("table.result-table")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody tr").first).to_contain_text("Games")


def test_no_provider_says_so_in_plain_words_keeps_the_question_and_retries(
    asgi_page: Page, analyst_chat, provider
):
    page = asgi_page
    agent = analyst_chat.agent
    agent.base_url = "http://llmuser:hunter2@127.0.0.1:9/v1"  # nothing listens there
    agent.save()

    ask(page, analyst_chat, "Top categories last month?")

    reply = page.locator("article.chat-message-assistant").last
    # Plain words for the user; where the server is and how to set it up is for operators.
    expect(reply.get_by_role("alert")).to_contain_text(PUBLIC_UNREACHABLE)
    expect(reply.get_by_role("alert")).to_contain_text("Reference: model call")
    expect(reply.get_by_role("alert")).not_to_contain_text("127.0.0.1")
    expect(reply.get_by_role("alert")).not_to_contain_text("README")
    expect(reply.get_by_role("button", name="Retry")).to_be_visible()

    # Nothing typed is lost: after a reload the question and the failed reply are there.
    page.reload()
    expect(page.locator(".chat-message-user").last).to_contain_text("Top categories last month?")
    reply = page.locator("article.chat-message-assistant").last
    expect(reply.get_by_role("alert")).to_contain_text(PUBLIC_UNREACHABLE)
    assert "hunter2" not in page.content()

    # With a provider configured, Retry streams the answer into the same reply.
    failed = Message.objects.get(role="assistant")
    agent.base_url = provider.base_url
    agent.save()
    provider.queue(say("Games ", "lead."))
    reply.get_by_role("button", name="Retry").click()
    answered = page.locator(f"#message-{failed.pk}")
    expect(answered).not_to_have_class(re.compile(r"\bchat-message-pending\b"))  # done
    expect(answered.locator(".chat-bubble")).to_have_text("Games lead.")
    expect(answered.get_by_role("alert")).to_have_count(0)
    failed.refresh_from_db()
    assert (failed.status, failed.content) == ("complete", "Games lead.")
    assert Message.objects.filter(role="assistant").count() == 1

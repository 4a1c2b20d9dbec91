"""The pages work under the Content-Security-Policy: no violation while people use them.

Every violation is reported twice over: the browser's `securitypolicyviolation` event (sent to
the test through an exposed function, so it survives navigation) and Chromium's console error
("Refused to ..."). Either one fails the test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from apps.llm_artifact.models import Artifact
from apps.llm_chat.models import Message
from tests.browser import test_charts, test_chat_stream
from tests.browser.test_pages_flow import sign_in

pytestmark = pytest.mark.browser

# The scenes of the chart and chat tests, reused as they are.
demo = test_charts.demo
provider = test_chat_stream.provider
analyst_chat = test_chat_stream.analyst_chat
ask = test_chat_stream.ask
ANSWER = test_chat_stream.ANSWER
TOP_SQL = test_chat_stream.TOP_SQL

REPORT = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__reportCsp(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"}` +
      ` at ${event.sourceFile}:${event.lineNumber}`
  );
});
"""


def watch_csp(page: Page) -> list[str]:
    violations: list[str] = []
    page.expose_function("__reportCsp", lambda text: violations.append(text))
    page.add_init_script(REPORT)

    def on_console(message) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", on_console)
    return violations


@pytest.fixture
def csp_page(page: Page) -> Iterator[tuple[Page, list[str]]]:
    violations = watch_csp(page)
    yield page, violations
    assert not violations, f"Content-Security-Policy violations: {violations}"


@pytest.fixture
def csp_asgi_page(asgi_page: Page) -> Iterator[tuple[Page, list[str]]]:
    violations = watch_csp(asgi_page)
    yield asgi_page, violations
    assert not violations, f"Content-Security-Policy violations: {violations}"


def test_the_policy_is_sent_and_enforced(page: Page, live_server, demo):
    violations = watch_csp(page)
    response = page.goto("/accounts/login/")
    policy = response.headers["content-security-policy"]

    assert "script-src 'self'" in policy
    assert "unsafe-eval" not in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    # The browser really refuses what the policy forbids, and this test would see it.
    ran = page.evaluate(
        """() => {
          const tag = document.createElement("script");
          tag.textContent = "window.inlineRan = true";
          document.head.appendChild(tag);
          return window.inlineRan === true;
        }"""
    )
    assert ran is False
    page.wait_for_timeout(200)
    assert any("script-src" in text for text in violations), violations


def test_chat_streams_and_artifact_runs_without_violations(
    csp_asgi_page,
    analyst_chat,
    provider,
):
    from tests.fakes.llm_server import call, say

    page, _ = csp_asgi_page
    provider.queue(
        call("list_tables", {}),
        call("run_sql", {"sql": TOP_SQL}),
        call("save_artifact", {"title": "Revenue by category", "sql": TOP_SQL}),
        say(*ANSWER),
    )
    provider.chunk_delay = 0.02

    ask(page, analyst_chat, "What are the top categories by revenue?")

    final_message = page.locator("article.chat-message-assistant").last
    expect(final_message.locator(".chat-bubble")).to_contain_text("saved as an artifact")
    expect(final_message).not_to_have_class(re.compile(r"\bchat-message-pending\b"))
    assert Message.objects.get(role="assistant").status == Message.Status.COMPLETE
    artifact = Artifact.objects.get(title="Revenue by category")
    final_message.locator(f"[data-artifact-card='{artifact.pk}']").get_by_role(
        "link", name="Open artifact"
    ).click()
    page.locator("#artifact-run-panel").get_by_role("button", name="Run").click()
    expect(page.locator("#artifact-run-panel table.result-table tbody tr")).to_have_count(3)


def test_artifact_list_and_chart_after_run_without_violations(
    csp_page,
    live_server,
    demo,
):
    page, _ = csp_page
    sign_in(page)
    page.goto("/artifacts/")
    expect(page.get_by_role("link", name="Orders by status")).to_be_visible()
    # The filters answer through htmx.
    page.get_by_role("searchbox", name="Search").fill("table")
    expect(page.get_by_role("link", name="Orders by status")).to_have_count(0)
    expect(page.get_by_role("link", name="Orders table")).to_be_visible()
    select = page.locator("#artifact-filters select").first
    value = select.locator("option").nth(1).get_attribute("value")
    select.select_option(value)
    name = select.get_attribute("name")
    expect(page).to_have_url(re.compile(rf"/artifacts/\?.*{name}={value}"))

    page.goto(demo["charted"].get_absolute_url())
    page.locator("#artifact-run-panel").get_by_role("button", name="Run").click()
    chart = page.locator('#artifact-run-result [data-chart="page"]')
    expect(chart).to_have_attribute("data-chart-state", "drawn")
    bars = chart.locator("svg.marks g.mark-rect path")
    expect(bars).to_have_count(6)
    # Tooltips, the actions menu and the editor's preview run vega too.
    bars.first.hover()
    expect(page.locator("#vg-tooltip-element")).to_contain_text("paid")
    chart.locator("details summary").click()
    expect(chart.locator(".vega-actions a")).to_have_text(["Save as SVG", "Save as PNG"])


def test_api_docs_work_without_violations(csp_page, live_server, demo):
    page, _ = csp_page
    sign_in(page)
    page.goto("/api/docs/")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() > 10
    operations.first.locator(".opblock-summary").click()
    expect(page.locator(".opblock-body").first).to_be_visible()


def test_tokens_page_works_without_violations(csp_page, live_server, demo):
    page, _ = csp_page
    sign_in(page)
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("[data-token-secret] code")).to_be_visible()
    expect(page.get_by_role("cell", name="laptop")).to_be_visible()


def test_admin_and_browsable_api_work_without_violations(csp_page, live_server, demo):
    page, _ = csp_page
    charted = demo["charted"]
    type(charted.owner).objects.filter(pk=charted.owner.pk).update(is_staff=True, is_superuser=True)
    sign_in(page)
    page.goto("/admin/llm_artifact/artifact/")
    expect(page.locator("#result_list")).to_contain_text("Orders by status")
    page.goto(f"/admin/llm_artifact/artifact/{charted.pk}/change/")
    expect(page.locator("#content h2, #content-main").first).to_be_visible()
    page.goto(f"/admin/llm_agent/agent/{charted.agent.pk}/change/")
    expect(page.locator("#content-main")).to_be_visible()
    page.goto("/api/artifacts/")
    expect(page.locator(".response-info")).to_contain_text("Orders by status")

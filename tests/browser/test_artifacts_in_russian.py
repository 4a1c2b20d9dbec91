"""The artifact list and page for a user who reads Russian: words, numbers in a result table
and on a chart's axis written the Russian way (12 000, 0,5), and the language switcher
bringing the user back to the page they were on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import Profile
from tests.browser.test_pages_flow import sign_in
from tests.conftest import UserFactory
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.browser

NBSP = "\xa0"
REVENUE_SQL = (
    "SELECT 'север' AS region, 12000.5 AS revenue UNION ALL SELECT 'юг', 25000.25 "
    "UNION ALL SELECT 'запад', 7500"
)
BAR = {
    "data": {"name": "results"},
    "mark": "bar",
    "encoding": {
        "x": {"field": "region", "type": "nominal"},
        "y": {"field": "revenue", "type": "quantitative"},
    },
}


@pytest.fixture
def charted(transactional_db, tmp_path: Path, settings):
    sample.use_sqlite(tmp_path, settings)
    user = UserFactory(username="analyst")
    Profile.objects.create(user=user, language="ru")
    return ArtifactFactory(
        owner=user, title="Выручка по регионам", sql_query=REVENUE_SQL, visualization_config=BAR
    )


def axis_labels(page: Page) -> list[str]:
    """The y axis's tick labels, read from the chart's SVG."""
    return page.locator(
        "#artifact-run-result svg.marks g.role-axis[aria-label^='Y-axis'] g.role-axis-label text"
    ).all_text_contents()


def test_the_artifact_list_and_page_in_russian(page: Page, live_server, charted):
    sign_in(page)

    page.goto("/artifacts/")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("h1")).to_have_text("Ваши артефакты")
    expect(page.locator("#artifact-count")).to_have_text("1 артефакт")
    page.get_by_role("link", name="Выручка по регионам").click()

    expect(page).to_have_url(re.compile(rf"/artifacts/{charted.pk}/$"))
    expect(page.locator("#artifact-run-panel")).to_contain_text(
        "Выполните запрос, чтобы увидеть здесь результат с графиком."  # noqa: RUF001
    )
    page.locator("#artifact-run-panel").get_by_role("button", name="Запуск", exact=True).click()
    table = page.locator("#artifact-run-result table.result-table")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr").first).to_contain_text(f"12{NBSP}000,50")
    expect(table.locator("tbody tr").nth(1)).to_contain_text(f"25{NBSP}000,25")
    expect(page.locator(".run-row-count")).to_have_text("3 строки")

    chart = page.locator("#artifact-run-result [data-chart]")
    expect(chart).to_have_attribute("data-chart-state", "drawn")
    labels = axis_labels(page)
    assert f"10{NBSP}000" in labels and f"20{NBSP}000" in labels, labels
    assert not any("," in label for label in labels), labels


def test_switching_language_keeps_the_user_on_the_same_page(page: Page, live_server, charted):
    sign_in(page)
    url = f"/artifacts/?q={charted.title}"
    page.goto(url)
    expect(page.locator("h1")).to_have_text("Ваши артефакты")

    page.get_by_role("button", name="EN", exact=True).click()
    expect(page.locator("h1")).to_have_text("Your artifacts")
    expect(page).to_have_url(re.compile(r"/artifacts/\?q="))
    expect(page.locator("#artifact-count")).to_have_text("1 artifact")

    page.goto(charted.get_absolute_url())
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("#artifact-run-result table.result-table tbody tr").first).to_contain_text(
        "12,000.50"
    )
    expect(page.locator("#artifact-run-result [data-chart]")).to_have_attribute(
        "data-chart-state", "drawn"
    )
    assert "10,000" in axis_labels(page)

    page.get_by_role("button", name="RU", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/artifacts/{charted.pk}/$"))
    expect(page.locator("#artifact-run-panel h2")).to_contain_text("Запуск")

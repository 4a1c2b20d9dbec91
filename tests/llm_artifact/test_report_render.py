"""A report's blocks drawn for a viewer, re-run, and exported to HTML and PDF."""

from __future__ import annotations

import base64
import re
import sqlite3

import pypdfium2 as pdfium
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.llm_artifact.reports.export import report_html, report_pdf
from apps.llm_artifact.reports.render import render_report, rerun_report
from tests.conftest import share
from tests.llm_artifact.factories import BAR, ArtifactFactory

STATUS_SQL = "SELECT status, COUNT(*) AS orders FROM orders GROUP BY status ORDER BY status"
TOTAL_SQL = "SELECT COUNT(*) AS orders, SUM(total) AS revenue FROM orders WHERE status = :status"
STATUS_PARAM = [{"name": "status", "type": "string", "default": "paid"}]


@pytest.fixture
def artifacts(shop, owner):
    chart = ArtifactFactory(
        owner=owner, title="Orders by status", sql_query=STATUS_SQL, visualization_config=BAR
    )
    table = ArtifactFactory(
        owner=owner,
        title="Order list",
        sql_query=("SELECT id, status, total FROM orders ORDER BY id"),
    )
    totals = ArtifactFactory(
        owner=owner, title="Paid totals", sql_query=TOTAL_SQL, query_params=STATUS_PARAM
    )
    return chart, table, totals


def document(chart, table, totals) -> str:
    return (
        "# Monthly sales\n\n"
        f"Paid orders: {{{{ value {totals.pk} column=orders :status=paid }}}}, worth "
        f"{{{{ value {totals.pk} column=revenue }}}}.\n\n"
        f"```artifact {chart.pk} show=chart\n```\n\n"
        f"```artifact {table.pk} show=table rows=3\n```\n"
    )


def values_of(html: str) -> list[str]:
    return re.findall(r'<span class="report-value[^"]*"[^>]*>([^<]*)</span>', html)


def test_a_report_opens_on_not_run_blocks_until_it_is_re_run(artifacts, owner):
    markdown = document(*artifacts)
    before = render_report(markdown, owner)
    assert before.not_run_count == 4 and values_of(before.html) == []
    assert "Not run with these parameter values yet" in before.html

    outcome = rerun_report(markdown, owner)

    # Both values use one set of parameter values (the default is paid): one run for them.
    assert (outcome.runs, outcome.problems) == (3, [])
    rendered = render_report(markdown, owner)
    assert rendered.not_run_count == 0 and rendered.hidden_count == 0
    assert values_of(rendered.html) == ["4", "699.25"]
    assert "<h1>Monthly sales</h1>" in rendered.html
    assert 'src="data:image/svg+xml;base64,' in rendered.html
    svg = base64.b64decode(re.search(r"base64,([^\"]+)", rendered.html).group(1))
    assert b"<svg" in svg and b"delivered" in svg
    assert rendered.html.count('<td class="cell-num">') == 6  # 3 rows: id and total
    assert "The first 3 rows of 10." in rendered.html


def test_numbers_change_when_the_data_changes_and_the_report_is_re_run(artifacts, owner, shop):
    markdown = document(*artifacts)
    rerun_report(markdown, owner)
    assert values_of(render_report(markdown, owner).html) == ["4", "699.25"]
    with sqlite3.connect(shop) as db:
        db.execute("UPDATE orders SET status = 'paid' WHERE id = 2")

    assert values_of(render_report(markdown, owner).html) == ["4", "699.25"]  # the kept run
    rerun_report(markdown, owner)
    assert values_of(render_report(markdown, owner).html) == ["5", "734.25"]


def test_a_viewer_sees_only_the_blocks_of_artifacts_shared_with_them(
    artifacts, owner, group_viewer, team, other_user
):
    chart, _table, _totals = artifacts
    share(chart, team)
    markdown = document(*artifacts)
    rerun_report(markdown, owner)

    seen = render_report(markdown, group_viewer)
    assert seen.hidden_count == 3
    assert "Orders by status" in seen.html and "Order list" not in seen.html
    assert "Paid totals" not in seen.html and values_of(seen.html) == []
    assert seen.html.count("[hidden]") == 2
    assert "is not shared with you (or no longer exists), so it is hidden" in seen.html
    # The shared block shows the owner's run: the viewer may see the artifact's history.
    assert 'src="data:image/svg+xml;base64,' in seen.html

    stranger = render_report(markdown, other_user)
    assert stranger.hidden_count == 4 and "Orders by status" not in stranger.html


def test_a_viewer_re_runs_only_what_they_may_see(artifacts, owner, group_viewer, team):
    chart, _table, _totals = artifacts
    share(chart, team)
    outcome = rerun_report(document(*artifacts), group_viewer)
    assert outcome.runs == 1
    assert chart.runs.get().user == group_viewer


def test_bad_parameter_values_and_missing_columns_say_so_in_place(artifacts, owner):
    _chart, _table, totals = artifacts
    markdown = f"A {{{{ value {totals.pk} column=nope }}}} and {{{{ value {totals.pk} :size=3 }}}}."
    rerun = rerun_report(markdown, owner)
    assert rerun.problems == ["“Paid totals”: :size: Unknown parameter 'size'; declared: status."]
    html = render_report(markdown, owner).html
    assert "The result has no column “nope” (columns: orders, revenue)." in html
    assert "Unknown parameter" in html


def test_opening_a_report_costs_the_same_queries_with_more_blocks(artifacts, owner):
    chart, table, totals = artifacts
    small = document(chart, table, totals)
    more = [ArtifactFactory(owner=owner, sql_query=STATUS_SQL) for _ in range(5)]
    large = small + "".join(f"\n```artifact {a.pk} show=table\n```\n" for a in more)
    rerun_report(large, owner)
    counts = []
    for markdown in (small, large):
        with CaptureQueriesContext(connection) as queries:
            render_report(markdown, owner)
        counts.append(len(queries))
    assert counts[0] == counts[1] == 2


def test_markdown_in_a_report_is_sanitised(owner, shop):
    html = render_report("<script>alert(1)</script> [x](javascript:alert(1))", owner).html
    assert "<script>" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html


def test_the_html_export_is_self_contained(artifacts, owner):
    markdown = document(*artifacts)
    rerun_report(markdown, owner)
    html = report_html("Monthly sales", render_report(markdown, owner, absolute="http://x"))
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert not re.search(r"<(script|link)\b", html)
    assert "data:image/svg+xml;base64," in html
    assert f'href="http://x/artifacts/{artifacts[0].pk}/"' in html


def test_the_pdf_export_draws_the_text_the_chart_and_the_table(artifacts, owner):
    markdown = document(*artifacts)
    rerun_report(markdown, owner)
    pdf = report_pdf(report_html("Monthly sales", render_report(markdown, owner)))

    document_ = pdfium.PdfDocument(pdf)
    assert len(document_) == 1
    page = document_[0]
    text = page.get_textpage().get_text_range()
    assert "Monthly sales" in text and "Paid orders: 4, worth 699.25." in text
    assert "Order list" in text and "120.50" in text
    image = page.render(scale=1).to_pil().convert("RGB")
    # The chart's bars are the only blue area of the page, and they are drawn.
    pixels = image.tobytes()
    blue = sum(
        1
        for i in range(0, len(pixels), 3)
        if pixels[i + 2] > 150 and pixels[i] < 120 and pixels[i + 1] < 160
    )
    assert blue > 2000


def test_a_long_report_runs_over_pages(owner, shop):
    markdown = "\n\n".join(f"Paragraph {n}: " + "words " * 80 for n in range(40))
    pdf = report_pdf(report_html("Long", render_report(markdown, owner)))
    pages = pdfium.PdfDocument(pdf)
    assert len(pages) >= 3
    assert "Paragraph 39" in pages[len(pages) - 1].get_textpage().get_text_range()
    assert "Paragraph 0" in pages[0].get_textpage().get_text_range()

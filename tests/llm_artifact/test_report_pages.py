"""The report's pages: open, edit with a preview, re-run and export, for every persona."""

from __future__ import annotations

import re
import sqlite3

import pypdfium2 as pdfium
import pytest
from django.urls import reverse

from apps.llm_artifact.models import Artifact
from tests.conftest import share
from tests.llm_artifact.factories import BAR, ArtifactFactory
from tests.llm_artifact.test_report_render import STATUS_PARAM, STATUS_SQL, TOTAL_SQL, document


@pytest.fixture
def sources(shop, owner):
    chart = ArtifactFactory(
        owner=owner, title="Orders by status", sql_query=STATUS_SQL, visualization_config=BAR
    )
    table = ArtifactFactory(
        owner=owner, title="Order list", sql_query="SELECT id, status, total FROM orders"
    )
    totals = ArtifactFactory(
        owner=owner, title="Paid totals", sql_query=TOTAL_SQL, query_params=STATUS_PARAM
    )
    return chart, table, totals


@pytest.fixture
def report(sources, owner):
    return ArtifactFactory(
        owner=owner,
        title="Monthly sales",
        artifact_type="report",
        sql_query="",
        document={"markdown": document(*sources)},
    )


def page(client, report):
    return client.get(report.get_absolute_url())


def values_on(response) -> list[str]:
    return re.findall(r'<span class="report-value[^"]*"[^>]*>([^<]*)</span>', response.text)


def rerun(client, report):
    return client.post(reverse("llm_artifact:report_rerun", args=[report.pk]), follow=True)


def test_the_owner_opens_re_runs_and_sees_the_numbers(client, owner, report):
    client.force_login(owner)
    opened = page(client, report)
    assert opened.status_code == 200
    assert "4 blocks have no result with their values yet" in opened.text

    response = rerun(client, report)

    assert response.status_code == 200 and "Ran 3 queries." in response.text
    assert values_on(response) == ["4", "699.25"]
    assert 'class="report-chart img-fluid"' in response.text and "Order list" in response.text
    assert "Edit the text" in response.text and "Share…" in response.text


def test_other_users_get_404_everywhere(client, other_user, report):
    client.force_login(other_user)
    for url in (
        report.get_absolute_url(),
        reverse("llm_artifact:report_edit", args=[report.pk]),
        reverse("llm_artifact:report_export", args=[report.pk, "html"]),
        reverse("llm_artifact:report_export", args=[report.pk, "pdf"]),
    ):
        assert client.get(url).status_code == 404
    assert rerun(client, report).status_code == 404


def test_staff_see_and_edit_it(client, staff, report):
    client.force_login(staff)
    assert page(client, report).status_code == 200
    assert client.get(reverse("llm_artifact:report_edit", args=[report.pk])).status_code == 200


def test_a_group_viewer_sees_shared_blocks_only_and_may_not_edit(
    client, owner, group_viewer, team, report, sources
):
    chart, _table, _totals = sources
    share(report, team)
    share(chart, team)
    client.force_login(owner)
    rerun(client, report)

    client.force_login(group_viewer)
    response = page(client, report)
    assert response.status_code == 200
    assert "3 blocks of this report show artifacts that are not shared with you" in response.text
    assert "Orders by status" in response.text and "Paid totals" not in response.text
    assert values_on(response) == [] and response.text.count("[hidden]") == 2
    assert "Edit the text" not in response.text
    edit = reverse("llm_artifact:report_edit", args=[report.pk])
    assert client.get(edit).status_code == 403
    assert client.post(edit, {"title": "x"}).status_code == 403
    # Re-run runs what they may see, as them.
    assert "Ran 1 query." in rerun(client, report).text
    exported = client.get(reverse("llm_artifact:report_export", args=[report.pk, "html"]))
    assert "Paid totals" not in exported.text and "Orders by status" in exported.text


def test_a_group_editor_edits_the_text(client, group_editor, team, editors, report, sources):
    share(report, team, editors, edit=[editors])
    client.force_login(group_editor)
    edit = reverse("llm_artifact:report_edit", args=[report.pk])
    form = client.get(edit)
    assert form.status_code == 200 and "```artifact" in form.text
    chart = sources[0]
    text = f"# New title\n\n```artifact {chart.pk} show=table rows=2\n```\n"
    response = client.post(
        edit,
        {"title": "Weekly", "description": "", "data_source": "marketplace", "markdown": text},
    )
    assert response.status_code == 302
    report.refresh_from_db()
    assert (report.title, report.document) == ("Weekly", {"markdown": text})


def test_preview_draws_the_text_without_saving(client, owner, report, sources):
    client.force_login(owner)
    chart = sources[0]
    rerun(client, report)
    response = client.post(
        reverse("llm_artifact:report_edit", args=[report.pk]),
        {
            "title": "Changed",
            "data_source": "marketplace",
            "markdown": f"Preview *me*\n\n```artifact {chart.pk} show=table\n```",
            "preview": "1",
        },
    )
    assert response.status_code == 200
    assert "<em>me</em>" in response.text and "delivered" in response.text
    report.refresh_from_db()
    assert report.title == "Monthly sales"


def test_a_malformed_block_is_shown_beside_the_text_and_nothing_is_saved(client, owner, report):
    client.force_login(owner)
    response = client.post(
        reverse("llm_artifact:report_edit", args=[report.pk]),
        {"title": "T", "data_source": "marketplace", "markdown": "Hi\n\n```artifact show=pie\n```"},
    )
    assert response.status_code == 200
    assert "Line 3: say which artifact" in response.text
    report.refresh_from_db()
    assert report.title == "Monthly sales"


def test_a_new_report_is_made_from_the_editor(client, owner, shop, sources):
    client.force_login(owner)
    new = reverse("llm_artifact:report_new")
    assert client.get(new).status_code == 200
    response = client.post(
        new,
        {"title": "Fresh", "data_source": "marketplace", "markdown": "Just words."},
    )
    made = Artifact.objects.get(title="Fresh")
    assert response.status_code == 302 and response["Location"] == made.get_absolute_url()
    assert (made.artifact_type, made.owner, made.document) == (
        "report",
        owner,
        {"markdown": "Just words."},
    )
    empty = client.post(new, {"title": "Empty", "data_source": "marketplace", "markdown": " "})
    assert empty.status_code == 200 and "A report needs its text." in empty.text


def test_exports_download_html_and_pdf(client, owner, report):
    client.force_login(owner)
    rerun(client, report)
    html = client.get(reverse("llm_artifact:report_export", args=[report.pk, "html"]))
    assert html.status_code == 200 and html["Content-Type"].startswith("text/html")
    assert 'filename="monthly-sales.html"' in html["Content-Disposition"]
    assert "data:image/svg+xml;base64," in html.text and "<script" not in html.text
    pdf = client.get(reverse("llm_artifact:report_export", args=[report.pk, "pdf"]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    pages = pdfium.PdfDocument(pdf.content)
    assert "Paid orders: 4, worth 699.25." in pages[0].get_textpage().get_text_range()
    assert (
        client.get(reverse("llm_artifact:report_export", args=[report.pk, "doc"])).status_code
        == 404
    )


def test_report_urls_of_an_sql_artifact_are_404(client, owner, sources):
    client.force_login(owner)
    chart = sources[0]
    assert client.get(reverse("llm_artifact:report_edit", args=[chart.pk])).status_code == 404
    assert rerun(client, chart).status_code == 404


def test_the_numbers_on_the_page_follow_the_data_after_a_re_run(client, owner, report, shop):
    client.force_login(owner)
    assert values_on(rerun(client, report)) == ["4", "699.25"]
    with sqlite3.connect(shop) as db:
        db.execute("UPDATE orders SET status = 'paid' WHERE id = 2")
    assert values_on(page(client, report)) == ["4", "699.25"]  # the kept runs, until re-run
    assert values_on(rerun(client, report)) == ["5", "734.25"]

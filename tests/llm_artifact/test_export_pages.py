"""Exports from the artifact page: /artifacts/<pk>/export/<csv|json|xlsx>/?<param>=...

The file holds the full result (up to the export cap, beyond the display cap), is named
after the artifact, and counts as one run; bad values bring the page back with errors.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse

from apps.llm_artifact.models import Artifact, ArtifactRun
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

ORDERS = (
    "SELECT id, status, total, ordered_at FROM orders "
    "WHERE status = :status AND total >= :minimum ORDER BY id"
)
DECLARATIONS = [
    {"name": "status", "type": "string", "default": "paid"},
    {"name": "minimum", "type": "number", "label": "Minimum total", "required": True},
]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def shop(tmp_path: Path, settings) -> Path:
    # A display cap of 2 rows: every export below holds more than a run shows.
    path = sample.use_sqlite(tmp_path, settings)
    settings.DATA_SOURCES = f"marketplace=sqlite:///{path}?max_rows=2"
    return path


@pytest.fixture
def artifact(shop: Path, owner) -> Artifact:
    return ArtifactFactory(
        owner=owner, title="Paid orders (big ones)", sql_query=ORDERS, query_params=DECLARATIONS
    )


def export_url(artifact: Artifact, export_format: str) -> str:
    return reverse("llm_artifact:artifact_export", args=[artifact.pk, export_format])


def body(response) -> bytes:
    assert response.streaming, "an export is streamed"
    return b"".join(response.streaming_content)


def test_csv_export_holds_every_row_and_is_named_after_the_artifact(owner_client, artifact):
    response = owner_client.get(export_url(artifact, "csv"), {"status": "paid", "minimum": "0"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="paid-orders-big-ones.csv"'
    rows = list(csv.reader(io.StringIO(body(response).decode())))
    assert rows == [
        ["id", "status", "total", "ordered_at"],
        ["1", "paid", "120.5", "2024-01-03 10:00:00"],
        ["4", "paid", "250.0", "2024-02-10 18:45:00"],
        ["9", "paid", "18.75", "2024-04-02 10:05:00"],
        ["10", "paid", "310.0", "2024-04-18 19:30:00"],
    ]  # four rows where a run shows two


def test_json_export_is_an_array_of_objects_with_the_given_values(owner_client, artifact):
    response = owner_client.get(
        export_url(artifact, "json"), {"status": "delivered", "minimum": "10"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="paid-orders-big-ones.json"'
    assert json.loads(body(response)) == [
        {"id": 2, "status": "delivered", "total": 35.0, "ordered_at": "2024-01-15 12:30:00"},
        {"id": 6, "status": "delivered", "total": 80.0, "ordered_at": "2024-03-05 14:00:00"},
    ]


def test_xlsx_export_is_a_workbook_with_every_row(owner_client, artifact):
    response = owner_client.get(export_url(artifact, "xlsx"), {"minimum": "0"})
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    assert response["Content-Disposition"] == 'attachment; filename="paid-orders-big-ones.xlsx"'
    with zipfile.ZipFile(io.BytesIO(body(response))) as workbook:
        # Written in constant-memory mode: strings are inline, in the sheet itself.
        sheet = workbook.read("xl/worksheets/sheet1.xml").decode()
    assert len(re.findall(r"<row ", sheet)) == 5  # the header and four paid orders
    for text in ("id", "status", "total", "ordered_at"):
        assert f"<t>{text}</t>" in sheet
    assert sheet.count("<t>paid</t>") == 4
    assert "<v>310</v>" in sheet  # a number cell, not text


def test_an_export_is_recorded_as_one_run(owner_client, artifact, owner):
    body(owner_client.get(export_url(artifact, "csv"), {"minimum": "100"}))
    run = ArtifactRun.objects.get()
    assert (run.outcome, run.row_count, run.truncated, run.user) == ("ok", 3, False, owner)
    assert run.params == {"status": "paid", "minimum": 100.0}
    artifact.refresh_from_db()
    assert artifact.execution_count == 1


def test_run_panel_export_links_carry_the_values(owner_client, artifact):
    content = owner_client.get(artifact.get_absolute_url()).content.decode()
    for export_format in ("csv", "json", "xlsx"):
        assert f'href="{export_url(artifact, export_format)}?status=paid&amp;minimum="' in content
    after_run = owner_client.post(
        reverse("llm_artifact:artifact_run", args=[artifact.pk]),
        {"status": "delivered", "minimum": "50"},
    ).content.decode()
    assert f'href="{export_url(artifact, "xlsx")}?status=delivered&amp;minimum=50"' in after_run
    assert f'data-export-base="{export_url(artifact, "xlsx")}"' in after_run


# --- Refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"minimum": "lots"}, "minimum", "expected a number, got &#x27;lots&#x27;"),
        ({}, "minimum", "Parameter &#x27;minimum&#x27; is required."),
    ],
)
def test_bad_values_bring_the_page_back_with_errors(owner_client, artifact, params, field, message):
    response = owner_client.get(export_url(artifact, "csv"), params)
    assert response.status_code == 400
    assert not response.streaming
    content = response.content.decode()
    assert "<html" in content
    error = re.search(rf'id="param-{field}_error">(.*?)</div>', content)
    assert error and message in error.group(1)
    assert not ArtifactRun.objects.exists()


def test_an_export_refused_before_the_first_row_shows_why(owner_client, artifact):
    Artifact.objects.filter(pk=artifact.pk).update(sql_query="DROP TABLE orders")
    response = owner_client.get(export_url(artifact, "json"), {"minimum": "1"})
    assert response.status_code == 400
    content = response.content.decode()
    assert "The JSON export did not start: the query was refused" in content
    assert 'id="artifact-status">Failed</span>' in content
    run = ArtifactRun.objects.get()
    assert run.outcome == ArtifactRun.Outcome.REJECTED
    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.FAILED


def test_an_unknown_format_is_404(owner_client, artifact):
    assert owner_client.get(export_url(artifact, "pdf"), {"minimum": "1"}).status_code == 404
    assert not ArtifactRun.objects.exists()


def test_anonymous_is_sent_to_sign_in(client, artifact):
    response = client.get(export_url(artifact, "csv"), {"minimum": "1"})
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_other_user_gets_404(client, other_user, artifact):
    client.force_login(other_user)
    assert client.get(export_url(artifact, "csv"), {"minimum": "1"}).status_code == 404
    assert not ArtifactRun.objects.exists()


def test_staff_can_export_anyones_artifact(client, staff, artifact):
    client.force_login(staff)
    response = client.get(export_url(artifact, "csv"), {"minimum": "300"})
    assert response.status_code == 200
    assert body(response).decode().splitlines()[1:] == ["10,paid,310.0,2024-04-18 19:30:00"]
    assert ArtifactRun.objects.get().user == staff

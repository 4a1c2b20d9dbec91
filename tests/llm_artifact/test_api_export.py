"""Exports over the API: GET /api/artifacts/{id}/export/?format=csv|json|xlsx&<param>=...

The file holds the full result (up to the export cap, not the display cap), is checked
before the first byte, and counts as one run.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import warnings
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.urls import reverse

from apps.datasources.executor import QueryFailed
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
    {"name": "minimum", "type": "number", "required": True},
]
PAID = [
    [1, "paid", 120.5, "2024-01-03 10:00:00"],
    [4, "paid", 250.0, "2024-02-10 18:45:00"],
    [9, "paid", 18.75, "2024-04-02 10:05:00"],
    [10, "paid", 310.0, "2024-04-18 19:30:00"],
]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Valid for the first rows, then an error from SQLite part way through the result (json()
# of text that is not JSON), after the export has started sending.
FAILS_AT_ROW_4001 = (
    "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 5000) "
    "SELECT CASE WHEN n > 4000 THEN json('not json ' || n) ELSE n END AS v FROM seq"
)


@pytest.fixture
def shop(tmp_path: Path, settings) -> Path:
    return sample.use_sqlite(tmp_path, settings, name="shop")


@pytest.fixture
def artifact(shop: Path, owner) -> Artifact:
    return ArtifactFactory(
        owner=owner,
        title="Paid orders (big ones)",
        data_source="shop",
        sql_query=ORDERS,
        query_params=DECLARATIONS,
    )


def export_url(artifact: Artifact) -> str:
    return reverse("api:artifact-export", args=[artifact.pk])


def body(response) -> bytes:
    assert response.streaming, "an export is streamed"
    return b"".join(response.streaming_content)


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def xlsx_rows(data: bytes) -> list[list]:
    """The first sheet's cells, read from its XML (openpyxl is not installed).

    Numbers come back as floats, text as str; empty cells as None.
    """
    namespace = {"s": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet = ElementTree.fromstring(archive.read("xl/worksheets/sheet1.xml"))
        shared = []
        if "xl/sharedStrings.xml" in archive.namelist():
            strings = ElementTree.fromstring(archive.read("xl/sharedStrings.xml"))
            shared = [
                "".join(t.text or "" for t in si.iter(f"{{{namespace['s']}}}t")) for si in strings
            ]
    rows = []
    for row in sheet.iterfind("s:sheetData/s:row", namespace):
        values: dict[int, object] = {}
        for cell in row.iterfind("s:c", namespace):
            column = ord(re.match(r"[A-Z]", cell.get("r")).group()) - ord("A")
            kind = cell.get("t")
            if kind == "inlineStr":
                values[column] = "".join(t.text or "" for t in cell.iter(f"{{{namespace['s']}}}t"))
            elif kind == "s":
                values[column] = shared[int(cell.find("s:v", namespace).text)]
            elif kind == "b":
                values[column] = cell.find("s:v", namespace).text == "1"
            else:
                values[column] = float(cell.find("s:v", namespace).text)
        rows.append([values.get(index) for index in range(max(values, default=-1) + 1)])
    return rows


def excel_datetime(serial: float) -> dt.datetime:
    return dt.datetime(1899, 12, 30) + dt.timedelta(days=serial)


# --- the three formats -------------------------------------------------------------------------


def test_csv_export_holds_the_rows_and_is_named_after_the_artifact(owner_api, artifact):
    response = owner_api.get(export_url(artifact), {"format": "csv", "minimum": "10"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="paid-orders-big-ones.csv"'
    rows = csv_rows(body(response))
    assert rows[0] == ["id", "status", "total", "ordered_at"]
    assert rows[1:] == [[str(value) for value in row] for row in PAID]


def test_json_export_is_an_array_of_objects(owner_api, artifact):
    response = owner_api.get(export_url(artifact), {"format": "json", "minimum": "100"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="paid-orders-big-ones.json"'
    assert json.loads(body(response)) == [
        {"id": 1, "status": "paid", "total": 120.5, "ordered_at": "2024-01-03 10:00:00"},
        {"id": 4, "status": "paid", "total": 250.0, "ordered_at": "2024-02-10 18:45:00"},
        {"id": 10, "status": "paid", "total": 310.0, "ordered_at": "2024-04-18 19:30:00"},
    ]


def test_xlsx_export_is_a_workbook_with_typed_cells(owner_api, artifact):
    response = owner_api.get(export_url(artifact), {"format": "xlsx", "minimum": "10"})

    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    assert response["Content-Disposition"] == 'attachment; filename="paid-orders-big-ones.xlsx"'
    rows = xlsx_rows(body(response))
    assert rows[0] == ["id", "status", "total", "ordered_at"]
    assert [row[:3] for row in rows[1:]] == [[float(r[0]), r[1], r[2]] for r in PAID]
    # The datetime column is a real Excel date, not text.
    moments = [excel_datetime(row[3]) for row in rows[1:]]
    expected = [dt.datetime.fromisoformat(row[3]) for row in PAID]
    assert all(abs(a - b) < dt.timedelta(seconds=1) for a, b in zip(moments, expected, strict=True))


def test_format_defaults_to_csv(owner_api, artifact):
    response = owner_api.get(export_url(artifact), {"minimum": "10"})

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert len(csv_rows(body(response))) == 5


def test_the_format_suffix_route_names_the_format_too(owner_api, artifact):
    url = reverse("api:artifact-export", kwargs={"pk": artifact.pk, "format": "json"})

    response = owner_api.get(url, {"minimum": "300"})

    assert response.status_code == 200
    assert [row["id"] for row in json.loads(body(response))] == [10]


def test_an_accept_header_for_the_file_type_is_fine(owner_api, artifact):
    response = owner_api.get(
        export_url(artifact), {"format": "csv", "minimum": "10"}, HTTP_ACCEPT="text/csv"
    )

    assert response.status_code == 200
    assert len(csv_rows(body(response))) == 5


def test_a_parameter_named_like_a_list_filter_reaches_the_query(owner_api, artifact):
    # "status" is also the artifact list's filter; here it is the artifact's parameter.
    response = owner_api.get(
        export_url(artifact), {"format": "json", "status": "delivered", "minimum": "0"}
    )

    assert response.status_code == 200
    assert [row["id"] for row in json.loads(body(response))] == [2, 6]


# --- the full result, up to the export cap ---------------------------------------------------


def test_export_returns_every_row_beyond_the_display_cap(owner_api, owner, shop, settings):
    settings.DATA_SOURCES = f"shop=sqlite:///{shop}?max_rows=3"
    artifact = ArtifactFactory(
        owner=owner, data_source="shop", sql_query="SELECT id FROM orders ORDER BY id"
    )

    response = owner_api.get(export_url(artifact), {"format": "csv"})

    assert [row[0] for row in csv_rows(body(response))[1:]] == [str(i) for i in range(1, 11)]
    run = ArtifactRun.objects.get()
    assert (run.row_count, run.truncated) == (10, False)


def test_export_stops_at_the_export_cap_and_says_so_in_the_run(owner_api, owner, shop, settings):
    settings.DATA_SOURCES = f"shop=sqlite:///{shop}?max_rows=2&export_max_rows=4"
    artifact = ArtifactFactory(
        owner=owner, data_source="shop", sql_query="SELECT id FROM orders ORDER BY id"
    )

    response = owner_api.get(export_url(artifact), {"format": "json"})

    assert json.loads(body(response)) == [{"id": i} for i in range(1, 5)]
    run = ArtifactRun.objects.get()
    assert (run.row_count, run.truncated) == (4, True)


def test_a_large_export_streams_in_many_chunks(owner_api, owner, shop):
    artifact = ArtifactFactory(
        owner=owner,
        data_source="shop",
        sql_query=(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 9000)"
            " SELECT n, 'row ' || n AS label FROM seq"
        ),
    )

    response = owner_api.get(export_url(artifact), {"format": "csv"})

    chunks = list(response.streaming_content)
    assert len(chunks) > 3  # a header, then one chunk per batch: never one big string
    rows = csv_rows(b"".join(chunks))
    assert len(rows) == 9001
    assert rows[-1] == ["9000", "row 9000"]


# --- an export is one run ----------------------------------------------------------------------


def test_an_export_is_recorded_as_one_run_and_counted_once(owner_api, owner, artifact):
    response = owner_api.get(export_url(artifact), {"format": "csv", "minimum": "10"})
    assert not ArtifactRun.objects.exists()  # nothing is recorded before the file is done

    body(response)

    run = ArtifactRun.objects.get()
    assert run.outcome == ArtifactRun.Outcome.OK
    assert (run.row_count, run.truncated, run.error) == (4, False, "")
    assert run.user == owner
    assert run.params == {"status": "paid", "minimum": 10.0}
    artifact.refresh_from_db()
    assert artifact.execution_count == 1
    assert artifact.last_executed_at is not None


def test_an_abandoned_download_is_recorded_without_failing_the_artifact(
    owner_api, owner, shop, keep_db_connection_open
):
    artifact = ArtifactFactory(
        owner=owner, data_source="shop", sql_query="SELECT id FROM orders ORDER BY id"
    )
    response = owner_api.get(export_url(artifact), {"format": "csv"})

    assert next(iter(response.streaming_content)) == b"id\r\n"
    response.close()  # the client went away after the header

    run = ArtifactRun.objects.get()
    assert run.outcome == ArtifactRun.Outcome.OK
    assert run.error == "The download stopped after 0 rows."
    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.ACTIVE


# --- refused before the first byte -----------------------------------------------------------


def test_an_unknown_format_is_a_400_and_nothing_runs(owner_api, artifact):
    response = owner_api.get(export_url(artifact), {"format": "pdf", "minimum": "10"})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "format": ['"pdf" is not an export format; use csv, json, xlsx.'],
    }
    assert not ArtifactRun.objects.exists()


@pytest.mark.parametrize(
    ("params", "name", "words"),
    [
        ({}, "minimum", "Parameter 'minimum' is required."),
        ({"minimum": "ten"}, "minimum", "expected a number"),
        ({"minimum": "1", "page": "2"}, "page", "Unknown parameter 'page'"),
    ],
)
def test_bad_parameters_are_a_400_before_streaming(owner_api, artifact, params, name, words):
    response = owner_api.get(export_url(artifact), {"format": "xlsx", **params})

    assert response.status_code == 400
    assert not response.streaming
    assert words in " ".join(response.json()["params"][name])
    assert not ArtifactRun.objects.exists()


def test_a_write_is_rejected_with_a_400_and_changes_nothing(owner_api, shop, artifact):
    Artifact.objects.filter(pk=artifact.pk).update(sql_query="DROP TABLE orders")
    before = sample.sqlite_fingerprint(shop)

    response = owner_api.get(export_url(artifact), {"format": "csv", "minimum": "1"})

    assert response.status_code == 400
    assert not response.streaming
    assert response.json()["outcome"] == "rejected"
    assert "DROP" in response.json()["detail"]
    assert response.json()["run_id"] == ArtifactRun.objects.get(outcome="rejected").pk
    assert sample.sqlite_fingerprint(shop) == before
    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.FAILED


def test_a_query_failing_at_once_is_a_400_not_a_broken_file(owner_api, owner, shop):
    artifact = ArtifactFactory(owner=owner, data_source="shop", sql_query="SELECT * FROM nowhere")

    response = owner_api.get(export_url(artifact), {"format": "csv"})

    assert response.status_code == 400
    assert response.json() == {
        "detail": "no such table: nowhere",
        "outcome": "error",
        "run_id": ArtifactRun.objects.get().pk,
    }


def test_a_failure_after_the_first_rows_cuts_the_download_and_is_recorded(owner_api, owner, shop):
    artifact = ArtifactFactory(owner=owner, data_source="shop", sql_query=FAILS_AT_ROW_4001)

    response = owner_api.get(export_url(artifact), {"format": "csv"})

    assert response.status_code == 200  # already on its way when the query failed
    received = []
    with pytest.raises(QueryFailed, match="malformed JSON"):
        for chunk in response.streaming_content:
            received.append(chunk)
    assert 1 < len(csv_rows(b"".join(received))) <= 4001
    run = ArtifactRun.objects.get()
    assert run.outcome == ArtifactRun.Outcome.ERROR
    assert "malformed JSON" in run.error
    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.FAILED


# --- under ASGI -----------------------------------------------------------------------------


def test_under_asgi_the_export_streams_without_buffering(client, owner, artifact):
    client.force_login(owner)
    asgi = AsyncClient()
    asgi.cookies = client.cookies

    async def download() -> tuple[int, str, list[bytes]]:
        response = await asgi.get(export_url(artifact), {"format": "csv", "minimum": "10"})
        # As Django's ASGI handler reads a streaming response.
        chunks = [chunk async for chunk in response]
        return response.status_code, response["Content-Disposition"], chunks

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # From sync code, the view's thread-sensitive work runs on this thread, inside the
        # test's transaction.
        status, disposition, chunks = async_to_sync(download)()

    assert status == 200
    assert disposition == 'attachment; filename="paid-orders-big-ones.csv"'
    assert csv_rows(b"".join(chunks))[1:] == [[str(value) for value in row] for row in PAID]
    # Django warns, and reads everything into memory first, when given a sync iterator.
    assert not [w for w in caught if "synchronous iterators" in str(w.message)]
    assert ArtifactRun.objects.get().row_count == 4


# --- who may export what ---------------------------------------------------------------------


def test_other_user_gets_404_and_nothing_runs(other_api, artifact):
    response = other_api.get(export_url(artifact), {"format": "csv", "minimum": "1"})

    assert response.status_code == 404
    assert not ArtifactRun.objects.exists()


def test_staff_exports_anyones_artifact(staff_api, staff, artifact):
    response = staff_api.get(export_url(artifact), {"format": "json", "minimum": "1"})

    assert response.status_code == 200
    assert len(json.loads(body(response))) == 4
    assert ArtifactRun.objects.get().user == staff


def test_anonymous_is_refused(api_client, artifact):
    response = api_client.get(export_url(artifact), {"format": "csv", "minimum": "1"})

    assert response.status_code == 401
    assert not ArtifactRun.objects.exists()


# --- documentation -------------------------------------------------------------------------


def test_the_export_is_documented_with_its_format_and_free_form_parameters(client):
    schema = client.get(reverse("api-schema"), {"format": "json"}).json()
    export = schema["paths"]["/api/artifacts/{id}/export/"]["get"]

    parameters = {p["name"]: p for p in export["parameters"]}
    assert parameters["format"]["schema"]["enum"] == ["csv", "json", "xlsx"]
    assert parameters["params"]["schema"]["type"] == "object"
    assert (parameters["params"]["style"], parameters["params"]["explode"]) == ("form", True)
    assert set(export["responses"]["200"]["content"]) == {"text/csv", "application/json", XLSX}
    errors = schema["components"]["schemas"]["ExportError"]["oneOf"]
    assert {ref["$ref"].rsplit("/", 1)[-1] for ref in errors} == {
        "ExportFormatError",
        "ParameterErrors",
        "RunFailed",
    }


# --- on PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_shop(postgres_url: str):
    from tests.postgres import shop_database

    with shop_database(postgres_url, sample.load_postgres) as database:
        yield database


@pytest.fixture
def postgres_artifact(postgres_shop, settings, owner) -> Artifact:
    # `owner` owns the tables: only the READ ONLY transaction stands between it and a write.
    settings.DATA_SOURCES = f"pg={postgres_shop.owner_url}?max_rows=2"
    settings.DEFAULT_DATA_SOURCE = "pg"
    return ArtifactFactory(
        owner=owner,
        title="Paid orders on PostgreSQL",
        data_source="pg",
        sql_query=ORDERS,
        query_params=DECLARATIONS,
    )


@pytest.mark.postgres
def test_postgresql_export_streams_every_row_past_the_display_cap(owner_api, postgres_artifact):
    response = owner_api.get(export_url(postgres_artifact), {"format": "json", "minimum": "10"})

    assert response.status_code == 200
    assert json.loads(body(response)) == [
        {"id": row[0], "status": row[1], "total": row[2], "ordered_at": row[3]} for row in PAID
    ]
    run = ArtifactRun.objects.get()
    assert (run.outcome, run.row_count, run.data_source) == ("ok", 4, "pg")


@pytest.mark.postgres
def test_postgresql_export_of_a_write_is_refused_and_changes_nothing(
    owner_api, postgres_shop, postgres_artifact
):
    from tests.postgres import checksum

    Artifact.objects.filter(pk=postgres_artifact.pk).update(
        sql_query="WITH gone AS (DELETE FROM orders RETURNING id) SELECT * FROM gone"
    )
    before = checksum(postgres_shop.admin_url)

    response = owner_api.get(export_url(postgres_artifact), {"format": "csv", "minimum": "1"})

    assert response.status_code == 400
    assert response.json()["outcome"] == "rejected"
    assert checksum(postgres_shop.admin_url) == before

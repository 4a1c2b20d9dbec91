"""Numbers in results read as people write them (grouped, even decimals, no float noise),
while exports keep every digit; a result without rows says "No rows" instead of drawing an
empty chart."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.llm_artifact.templatetags.artifacts import number
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_artifact.test_run_pages import HTMX, result_rows

NOISY = (
    "SELECT 'north' AS region, 4919171.08000078 AS revenue, 1234567 AS orders, 2024 AS year "
    "UNION ALL SELECT 'south', 812130.19, 12, 2023"
)


@pytest.mark.parametrize(
    ("value", "column", "shown"),
    [
        (4919171.08000078, "revenue", "4,919,171.08"),
        (812130.19, "", "812,130.19"),
        (1234567, "", "1,234,567"),
        (-1234.5, "", "-1,234.50"),
        (640.0, "", "640"),
        (0.1 + 0.2, "", "0.3"),
        (0.0042, "", "0.0042"),
        (0, "", "0"),
        (Decimal("1234.5678"), "", "1,234.57"),
        (123456, "customer_id", "123456"),
        (2024, "year", "2024"),
        (None, "", ""),
        ("text", "", "text"),
    ],
)
def test_one_rule_for_numbers(value, column, shown):
    assert number(value, column) == shown


def test_result_tables_group_and_align_decimals_per_column(owner_client, shop, owner):
    artifact = ArtifactFactory(owner=owner, sql_query=NOISY)
    page = owner_client.post(
        reverse("llm_artifact:artifact_run", args=[artifact.pk]), headers=HTMX
    ).content.decode()
    assert result_rows(page) == [
        "north|4,919,171.08|1,234,567|2024",
        "south|812,130.19|12|2023",
    ]
    assert ">4919171.08000078<" not in page
    card = owner_client.post(
        reverse("llm_artifact:artifact_card_run", args=[artifact.pk]), headers=HTMX
    ).content.decode()
    assert result_rows(card)[0] == "north|4,919,171.08|1,234,567|2024"


def test_exports_keep_full_precision(owner_client, shop, owner):
    artifact = ArtifactFactory(owner=owner, sql_query=NOISY)
    response = owner_client.get(reverse("llm_artifact:artifact_export", args=[artifact.pk, "csv"]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1] == ["north", "4919171.08000078", "1234567", "2024"]


def test_a_result_without_rows_shows_no_rows_and_no_chart(owner_client, shop, owner):
    artifact = ArtifactFactory(
        owner=owner,
        sql_query="SELECT status, COUNT(*) AS n FROM orders WHERE 1 = 0 GROUP BY status",
        visualization_config={
            "mark": "bar",
            "encoding": {"x": {"field": "status"}, "y": {"field": "n", "type": "quantitative"}},
        },
    )
    page = owner_client.post(
        reverse("llm_artifact:artifact_run", args=[artifact.pk]), headers=HTMX
    ).content.decode()
    assert "No rows.</span>" in page
    assert "data-chart=" not in page

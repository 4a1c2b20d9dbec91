"""Results JSON cannot hold as they come (infinities, NaN, numerics past 64 bits or past a
float's range) on a real PostgreSQL: the API's rows and every export still serialise, and
a numeric no float can hold is a failed query that says what to do, never a 500."""

from __future__ import annotations

import json

import pytest
from rest_framework.renderers import JSONRenderer

from apps.datasources.executor import QueryFailed, execute, stream
from apps.datasources.exports import EXPORT_FORMATS
from apps.llm_artifact.api.views import _json_safe_rows
from tests.postgres import ShopDatabase

pytestmark = pytest.mark.postgres

SQL = (
    "SELECT 'Infinity'::float8 AS inf, 'NaN'::numeric AS nan, 1e300::numeric AS big, "
    "123456789012345678901234567890::numeric(40, 0) AS whole, "
    "ARRAY[1e300::numeric, 2] AS arr, :n AS n"
)


def test_non_finite_and_huge_results_serialise_everywhere(postgres_sources: ShopDatabase):
    result = execute("reader", SQL, {"n": 2**63 - 1})
    body = json.loads(JSONRenderer().render({"rows": _json_safe_rows(result)}))
    [[inf, nan, big, whole, arr, n]] = body["rows"]
    assert (inf, nan, big, n) == (None, None, 1e300, 2**63 - 1)
    # numeric loads as a float (fast), so 30 digits keep a float's precision, as a whole number.
    assert whole == int(1.2345678901234568e29)
    assert arr == [1e300, 2]

    for name, export in EXPORT_FORMATS.items():
        with stream("reader", SQL, {"n": 1}) as (columns, batches):
            data = b"".join(export.write(columns, batches))
        assert data, name


@pytest.mark.parametrize("sql", ["SELECT 1e5000::numeric AS v", "SELECT -1e400::numeric AS v"])
def test_a_numeric_beyond_a_float_is_a_clear_failure(postgres_sources: ShopDatabase, sql):
    with pytest.raises(QueryFailed, match="too large to show as a number"):
        execute("reader", sql)
    with (
        pytest.raises(QueryFailed, match="cast it to text"),
        stream("reader", sql) as (_columns, batches),
    ):
        list(batches)

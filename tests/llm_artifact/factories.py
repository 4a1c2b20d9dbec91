from __future__ import annotations

import json

import factory
from factory.django import DjangoModelFactory

from apps.llm_artifact.models import Artifact

# A bar chart of orders per status: the spec the chart tests save, check and compare.
BAR = {
    "data": {"name": "results"},
    "mark": "bar",
    "encoding": {
        "x": {"field": "status", "type": "nominal"},
        "y": {"field": "orders", "type": "quantitative"},
    },
}


class ArtifactFactory(DjangoModelFactory):
    class Meta:
        model = Artifact

    title = factory.Sequence(lambda n: f"Orders by status {n}")
    sql_query = "SELECT status, COUNT(*) AS orders FROM orders GROUP BY status ORDER BY 2 DESC"
    data_source = "marketplace"
    owner = factory.SubFactory("tests.conftest.UserFactory")
    description = "How many orders sit in each status."


def admin_form_data(artifact: Artifact, **changes) -> dict:
    """The admin change form's POST data for `artifact` as it stands, with `changes` applied."""
    data = {
        "title": artifact.title,
        "artifact_type": artifact.artifact_type,
        "status": artifact.status,
        "owner": artifact.owner_id,
        "data_source": artifact.data_source,
        "sql_query": artifact.sql_query,
        "query_params": json.dumps(artifact.query_params),
        "visualization_config": json.dumps(artifact.visualization_config),
        "description": artifact.description,
        "comment": artifact.comment,
        "chat": artifact.chat_id or "",
        "agent": artifact.agent_id or "",
        "visibility": artifact.visibility,
        **share_forms(artifact),
    }
    data.update(changes)
    return data


def share_forms(row, prefix: str = "shares") -> dict:
    """The shares inline's POST data for an artifact's or a chat's shares as they stand."""
    shares = list(row.shares.order_by("pk")) if row.pk else []
    data = {f"{prefix}-TOTAL_FORMS": str(len(shares)), f"{prefix}-INITIAL_FORMS": str(len(shares))}
    for index, share in enumerate(shares):
        data[f"{prefix}-{index}-id"] = share.pk
        data[f"{prefix}-{index}-group"] = share.group_id
        if getattr(share, "can_edit", False):
            data[f"{prefix}-{index}-can_edit"] = "on"
    return data


TOP_BY_DIMENSION_SQL = """SELECT __dimension__ AS dimension, COALESCE(SUM(__measure__), 0) AS total
FROM __table__ GROUP BY __dimension__ ORDER BY total DESC LIMIT :n"""


def template_for(owner, **fields) -> Artifact:
    """`owner`'s template "top N by a dimension" (apps.llm_artifact.templating), created once."""
    existing = Artifact.objects.filter(owner=owner, sql_query=TOP_BY_DIMENSION_SQL).first()
    if existing is not None:
        return existing
    return ArtifactFactory(
        owner=owner,
        sql_query=TOP_BY_DIMENSION_SQL,
        query_params=[{"name": "n", "type": "integer", "label": "How many", "default": 3}],
        template_slots=[
            {"name": "table", "kind": "table", "label": "Table"},
            {"name": "dimension", "kind": "dimension_column", "table": "table"},
            {"name": "measure", "kind": "measure_column", "table": "table"},
        ],
        **fields,
    )


# --- dashboards (apps/llm_artifact/types/dashboard.py) ---------------------------------------

PERIOD_PARAMS = [
    {"name": "start_date", "type": "date", "label": "From", "default": "2024-01-01"},
    {"name": "end_date", "type": "date", "label": "To", "default": "2024-04-01"},
]
PERIOD = "ordered_at >= :start_date AND ordered_at < :end_date"
REVENUE_SQL = f"SELECT ROUND(SUM(total), 2) AS revenue FROM orders WHERE {PERIOD}"
STATUS_SQL = (
    f"SELECT status, COUNT(*) AS orders FROM orders WHERE {PERIOD} GROUP BY status ORDER BY status"
)
TOP_SQL = (
    "SELECT c.name, ROUND(SUM(o.total), 2) AS spent FROM orders o "
    "JOIN customers c ON c.id = o.customer_id "
    "WHERE o.ordered_at >= :start_date AND o.ordered_at < :end_date "
    "GROUP BY c.name ORDER BY 2 DESC LIMIT 5"
)


def period_artifacts(owner) -> list[Artifact]:
    """Three SQL artifacts over a date range (start_date, end_date): revenue, orders by
    status (with a bar chart) and the top customers."""
    return [
        ArtifactFactory(
            owner=owner, title="Revenue", sql_query=REVENUE_SQL, query_params=PERIOD_PARAMS
        ),
        ArtifactFactory(
            owner=owner,
            title="Orders by status",
            sql_query=STATUS_SQL,
            query_params=PERIOD_PARAMS,
            visualization_config=BAR,
        ),
        ArtifactFactory(
            owner=owner, title="Top customers", sql_query=TOP_SQL, query_params=PERIOD_PARAMS
        ),
    ]


DATE_FILTER = {
    "name": "period",
    "kind": "date_range",
    "label": "Order date",
    "params": ["start_date", "end_date"],
    "default": ["2024-01-01", "2024-04-01"],
}


def dashboard_for(owner, artifacts, *, shows=None, filters=None, **fields) -> Artifact:
    """A dashboard of `owner` with a tile for each artifact (shown as `shows` says, table by
    default) under the date filter."""
    shows = shows or ["table"] * len(artifacts)
    tiles = [
        {"id": f"t{n}", "kind": "artifact", "artifact": str(a.uid), "show": show, "width": 6}
        for n, (a, show) in enumerate(zip(artifacts, shows, strict=True), start=1)
    ]
    return ArtifactFactory(
        owner=owner,
        artifact_type="dashboard",
        title=fields.pop("title", "Sales overview"),
        sql_query="",
        description="The numbers of the week.",
        document={"tiles": tiles, "filters": [DATE_FILTER] if filters is None else filters},
        **fields,
    )

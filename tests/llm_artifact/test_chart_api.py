"""GET /api/artifacts/{id}/chart.png and .svg: the artifact runs and its chart is drawn on
the server, at the size asked for; bad requests are 400s that say why."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_chat.demo import DEMO_USERNAME
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"
# Like the demo's "Revenue by status" artifacts: a category, a count and a sum, since a day.
REVENUE_SQL = (
    "SELECT status, COUNT(*) AS orders, ROUND(SUM(total), 2) AS revenue FROM orders "
    "WHERE ordered_at >= :since GROUP BY status ORDER BY revenue DESC"
)
SPEC = {
    "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
    "data": {"name": "results"},
    "title": "Revenue by status",
    "mark": "bar",
    "encoding": {
        "y": {"field": "status", "type": "nominal", "sort": "-x"},
        "x": {"field": "revenue", "type": "quantitative"},
        "tooltip": [{"field": "status"}, {"field": "orders"}],
    },
}


@pytest.fixture
def artifact(shop, owner) -> Artifact:
    return ArtifactFactory(
        owner=owner,
        title="Revenue by status",
        sql_query=REVENUE_SQL,
        query_params=[{"name": "since", "type": "date", "default": "2024-01-01"}],
        visualization_config=SPEC,
    )


def chart_url(artifact: Artifact, fmt: str | None = None) -> str:
    kwargs = {"pk": artifact.pk}
    if fmt:
        kwargs["format"] = fmt
    return reverse("api:artifact-chart", kwargs=kwargs)


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def svg_root(content: bytes) -> ET.Element:
    root = ET.fromstring(content)
    assert root.tag == f"{SVG}svg"
    return root


def test_url_names_the_format_as_a_suffix(artifact):
    assert chart_url(artifact, "png") == f"/api/artifacts/{artifact.pk}/chart.png"
    assert chart_url(artifact, "svg") == f"/api/artifacts/{artifact.pk}/chart.svg"


def test_png_of_the_requested_size(owner_api, artifact):
    response = owner_api.get(chart_url(artifact, "png"), {"width": 480, "height": 300})

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'inline; filename="revenue-by-status.png"'
    assert response["Cache-Control"] == "private, no-store"
    assert png_size(response.content) == (480, 300)


def test_png_scale_multiplies_the_pixels(owner_api, artifact):
    response = owner_api.get(chart_url(artifact, "png"), {"width": 400, "height": 250, "scale": 2})
    assert png_size(response.content) == (800, 500)


def test_svg_of_the_requested_size_with_the_rows_drawn(owner_api, artifact):
    response = owner_api.get(chart_url(artifact, "svg"), {"width": 520, "height": 280})

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert "default-src 'none'" in response["Content-Security-Policy"]
    root = svg_root(response.content)
    assert (root.get("width"), root.get("height")) == ("520", "280")
    text = " ".join(t for t in root.itertext() if t.strip())
    # One bar per status since 2024-01-01 in the sample shop, labelled on the axis.
    for status in ("paid", "delivered", "cancelled", "returned", "shipped", "new"):
        assert status in text
    assert "Revenue by status" in text


def test_format_by_query_parameter_and_png_by_default(owner_api, artifact):
    svg = owner_api.get(chart_url(artifact), {"format": "svg"})
    assert svg["Content-Type"] == "image/svg+xml"
    svg_root(svg.content)
    png = owner_api.get(chart_url(artifact))
    assert png["Content-Type"] == "image/png"
    png_size(png.content)


def test_parameter_values_reach_the_query_and_the_run_is_recorded(owner_api, artifact, owner):
    response = owner_api.get(chart_url(artifact, "svg"), {"since": "2024-04-01"})

    assert response.status_code == 200
    run = ArtifactRun.objects.get()
    assert (run.artifact, run.user, run.outcome) == (artifact, owner, "ok")
    assert run.params == {"since": "2024-04-01"}
    assert run.row_count == 1  # only order 9 and 10 (both paid) are from April on
    text = " ".join(svg_root(response.content).itertext())
    assert "paid" in text and "delivered" not in text
    artifact.refresh_from_db()
    assert artifact.execution_count == 1


def test_a_truncated_result_says_the_chart_shows_the_first_rows(owner_api, artifact, settings):
    settings.DATA_SOURCE_MAX_ROWS = 2
    response = owner_api.get(chart_url(artifact, "svg"))
    assert "Showing the first 2 rows" in " ".join(svg_root(response.content).itertext())


# --- refusals --------------------------------------------------------------------------------


def test_no_chart_is_a_400_and_nothing_runs(owner_api, artifact):
    Artifact.objects.filter(pk=artifact.pk).update(visualization_config={})

    response = owner_api.get(chart_url(artifact, "png"))

    assert response.status_code == 400
    assert response.json() == {
        "detail": "This artifact has no chart; it is shown as a table.",
        "problems": [],
        "run_id": None,
    }
    assert not ArtifactRun.objects.exists()


def test_an_invalid_spec_is_a_400_with_paths_and_nothing_runs(owner_api, artifact):
    Artifact.objects.filter(pk=artifact.pk).update(
        visualization_config={**SPEC, "data": {"url": "https://example.com/x.csv"}}
    )

    response = owner_api.get(chart_url(artifact, "png"))

    assert response.status_code == 400
    body = response.json()
    assert body["detail"].startswith("The chart spec is not valid: data.url:")
    assert [p["path"] for p in body["problems"]] == ["data.url"]
    assert not ArtifactRun.objects.exists()


def test_a_spec_that_does_not_fit_the_result_is_a_400_after_the_run(owner_api, artifact):
    spec = {
        **SPEC,
        "encoding": {**SPEC["encoding"], "x": {"field": "total", "type": "quantitative"}},
    }
    Artifact.objects.filter(pk=artifact.pk).update(visualization_config=spec)

    response = owner_api.get(chart_url(artifact, "png"))

    assert response.status_code == 400
    body = response.json()
    assert [p["path"] for p in body["problems"]] == ["encoding.x.field"]
    assert body["run_id"] == ArtifactRun.objects.get().pk


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"width": 10}, "width"),
        ({"width": 5000}, "width"),
        ({"height": "tall"}, "height"),
        ({"scale": 9}, "scale"),
        ({"format": "gif"}, "format"),
    ],
)
def test_bad_options_are_a_400_naming_them(owner_api, artifact, query, field):
    response = owner_api.get(chart_url(artifact), query)
    assert response.status_code == 400
    assert field in response.json()
    assert not ArtifactRun.objects.exists()


def test_an_unknown_suffix_is_a_400(owner_api, artifact):
    response = owner_api.get(f"/api/artifacts/{artifact.pk}/chart.gif")
    assert response.status_code == 400
    assert response.json()["format"] == ['"gif" is not a chart format; use png or svg.']


def test_bad_parameter_values_are_a_400_and_nothing_runs(owner_api, artifact):
    response = owner_api.get(chart_url(artifact, "png"), {"since": "last week"})
    assert response.status_code == 400
    assert "since" in response.json()["params"]
    assert not ArtifactRun.objects.exists()


def test_a_failed_run_is_a_400_with_the_recorded_run(owner_api, artifact):
    Artifact.objects.filter(pk=artifact.pk).update(
        sql_query="SELECT status, missing AS revenue FROM orders WHERE ordered_at >= :since"
    )
    response = owner_api.get(chart_url(artifact, "png"))
    assert response.status_code == 400
    body = response.json()
    assert body["outcome"] == "error" and body["run_id"] == ArtifactRun.objects.get().pk


# --- who may ---------------------------------------------------------------------------------


def test_other_user_gets_404_and_nothing_runs(other_api, artifact):
    assert other_api.get(chart_url(artifact, "png")).status_code == 404
    assert not ArtifactRun.objects.exists()


def test_staff_may_draw_anyones_chart(staff_api, artifact):
    response = staff_api.get(chart_url(artifact, "svg"))
    assert response.status_code == 200
    svg_root(response.content)


def test_anonymous_is_refused(api_client, artifact):
    assert api_client.get(chart_url(artifact, "png")).status_code == 401


def test_a_signed_in_browser_session_may_load_the_image(client, owner, artifact):
    # The page's PNG/SVG links and the admin preview use the session, not a token.
    client.force_login(owner)
    response = client.get(chart_url(artifact, "png"), {"width": 300, "height": 200})
    assert response.status_code == 200
    assert png_size(response.content) == (300, 200)


# --- the demo ----------------------------------------------------------------------------------


def test_every_demo_chart_draws_at_the_requested_size(tmp_path, settings):
    settings.DATA_SOURCES = f"marketplace=sqlite:///{tmp_path / 'marketplace.sqlite3'}"
    settings.DEMO_PASSWORD = "demo-password"
    call_command("seed_demo", "--scale", "0.01", stdout=StringIO())
    charted = Artifact.objects.filter(owner__username=DEMO_USERNAME).exclude(
        visualization_config={}
    )
    assert charted.count() >= 4
    client = APIClient()
    client.force_authenticate(charted[0].owner)

    for artifact in charted:
        png = client.get(chart_url(artifact, "png"), {"width": 600, "height": 320})
        assert png.status_code == 200, (artifact.title, png.content[:300])
        assert png_size(png.content) == (600, 320), artifact.title
        svg = client.get(chart_url(artifact, "svg"))
        assert svg.status_code == 200, artifact.title
        # Drawn data, not an empty frame: bars, arcs or a line, each a path of its own.
        marks = [
            group
            for group in svg_root(svg.content).iter(f"{SVG}g")
            if group.get("class", "").split()[:1] in (["mark-rect"], ["mark-arc"], ["mark-line"])
        ]
        assert marks and all(group.find(f"{SVG}path") is not None for group in marks), (
            artifact.title
        )

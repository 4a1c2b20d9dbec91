"""Dashboards on the site: the grid, each tile run with the filters in the URL, the number
tile's change against the previous period, text tiles, arranging tiles and filters, and who
sees what (issue 16)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.llm_artifact.models import Artifact, ArtifactRun
from tests.conftest import share
from tests.llm_artifact.factories import (
    ArtifactFactory,
    dashboard_for,
    period_artifacts,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def artifacts(owner, shop):
    return period_artifacts(owner)


@pytest.fixture
def dashboard(owner, artifacts):
    return dashboard_for(owner, artifacts, shows=["number", "chart", "table"])


def tile_url(dashboard, tile_id: str, **query) -> str:
    url = reverse("llm_artifact:dashboard_tile", args=[dashboard.pk, tile_id])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def tiles(dashboard) -> list[dict]:
    return Artifact.objects.get(pk=dashboard.pk).document["tiles"]


# --- the page -------------------------------------------------------------------------------


def test_owner_sees_every_tile_loading_itself_with_the_filter_values(client, owner, dashboard):
    client.force_login(owner)
    response = client.get(
        dashboard.get_absolute_url() + "?period_from=2024-02-01&period_to=2024-03-01"
    )
    assert response.status_code == 200
    html = response.content.decode()
    for title in ("Revenue", "Orders by status", "Top customers"):
        assert title in html
    # Each tile asks for itself with the values in the URL, and names the filters it follows.
    query = "period_from=2024-02-01&amp;period_to=2024-03-01"
    for tile_id in ("t1", "t2", "t3"):
        assert f'hx-get="{tile_url(dashboard, tile_id)}?{query}"' in html
    assert html.count('data-filters="period"') == 3
    assert 'value="2024-02-01"' in html and "Order date from" in html
    # Opening the dashboard runs nothing: the tiles do, each in its own request.
    assert not ArtifactRun.objects.exists()


def test_tiles_take_one_column_on_phones_and_their_width_from_tablets(client, owner, dashboard):
    client.force_login(owner)
    html = client.get(dashboard.get_absolute_url()).content.decode()
    assert html.count('class="col-12 col-md-6 dashboard-tile-cell"') == 3


def test_a_tile_runs_with_the_filter_values(client, owner, dashboard, artifacts):
    client.force_login(owner)
    response = client.get(
        tile_url(dashboard, "t3", period_from="2024-02-01", period_to="2024-03-01"),
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    # February: Alan's cancelled order and Grace's two; Ada ordered in January only.
    assert "Alan Turing" in html and "Grace Hopper" in html and "Ada Lovelace" not in html
    run = ArtifactRun.objects.get(artifact=artifacts[2])
    assert run.params == {"start_date": "2024-02-01", "end_date": "2024-03-01"}
    assert "<html" not in html  # htmx gets the tile's body only


def test_a_tile_without_javascript_is_a_page_of_its_own(client, owner, dashboard):
    client.force_login(owner)
    response = client.get(tile_url(dashboard, "t3"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and "Top customers" in html and "Sales overview" in html


def test_the_filters_defaults_apply_when_the_url_has_none(client, owner, dashboard, artifacts):
    client.force_login(owner)
    client.get(tile_url(dashboard, "t3"), HTTP_HX_REQUEST="true")
    run = ArtifactRun.objects.get(artifact=artifacts[2])
    assert run.params == {"start_date": "2024-01-01", "end_date": "2024-04-01"}


def test_a_number_tile_shows_the_change_against_the_previous_period(client, owner, dashboard):
    client.force_login(owner)
    html = client.get(
        tile_url(dashboard, "t1", period_from="2024-02-01", period_to="2024-03-01"),
        HTTP_HX_REQUEST="true",
    ).content.decode()
    value = re.search(r'dashboard-number-value">([^<]+)<', html).group(1)
    assert value == "1,262.24"  # 999.99 + 250.00 + 12.25
    # The 29 days before: 2024-01-03 to 2024-02-01, the 120.50 and 35.00 of January.
    assert "+711.7% against the previous period (155.50, 2024-01-03 to 2024-02-01)" in html


def test_bad_filter_values_are_said_in_the_tile(client, owner, dashboard):
    client.force_login(owner)
    response = client.get(
        tile_url(dashboard, "t3", period_from="not-a-date"), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "cannot run with these values" in response.content.decode()
    assert not ArtifactRun.objects.exists()


def test_a_failing_tile_shows_its_error(client, owner, dashboard, artifacts, shop):
    client.force_login(owner)
    shop.unlink()  # the data source is gone
    html = client.get(tile_url(dashboard, "t3"), HTTP_HX_REQUEST="true").content.decode()
    assert "run-error" in html


def test_a_text_tile_is_sanitised_markdown(client, owner, artifacts):
    dashboard = dashboard_for(owner, artifacts[:1])
    dashboard.document["tiles"].append(
        {"id": "note", "kind": "text", "text": "**Read me** <script>alert(1)</script>", "width": 12}
    )
    dashboard.save()
    client.force_login(owner)
    html = client.get(dashboard.get_absolute_url()).content.decode()
    assert "<strong>Read me</strong>" in html
    assert "<script>alert(1)</script>" not in html


def test_unknown_tile_is_404(client, owner, dashboard):
    client.force_login(owner)
    assert client.get(tile_url(dashboard, "t9")).status_code == 404


def test_the_sql_pages_are_404_for_a_dashboard(client, owner, dashboard):
    client.force_login(owner)
    pk = dashboard.pk
    assert client.get(reverse("llm_artifact:artifact_workbench", args=[pk])).status_code == 404
    export = reverse("llm_artifact:artifact_export", args=[pk, "csv"])
    assert client.get(export).status_code == 404
    for name in ("artifact_chart", "artifact_run", "artifact_card_run"):
        assert client.post(reverse(f"llm_artifact:{name}", args=[pk])).status_code == 404


def test_the_list_says_how_many_tiles(client, owner, dashboard):
    client.force_login(owner)
    html = client.get(reverse("llm_artifact:artifact_list")).content.decode()
    assert "3 tiles" in html and "Dashboard" in html


def test_page_queries_do_not_grow_with_tiles(client, owner, shop, django_assert_num_queries):
    one = dashboard_for(owner, ArtifactFactory.create_batch(1, owner=owner))
    twelve = dashboard_for(owner, ArtifactFactory.create_batch(12, owner=owner))
    client.force_login(owner)
    client.get(one.get_absolute_url())
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(one.get_absolute_url())
    with CaptureQueriesContext(connection) as many:
        assert client.get(twelve.get_absolute_url()).status_code == 200
    assert len(many) == len(few)


def test_twelve_tiles_open_in_a_fixed_number_of_queries(
    client, owner, shop, django_assert_max_num_queries
):
    dashboard = dashboard_for(owner, ArtifactFactory.create_batch(12, owner=owner))
    client.force_login(owner)
    client.get(dashboard.get_absolute_url())
    with django_assert_max_num_queries(8):
        assert client.get(dashboard.get_absolute_url()).status_code == 200


# --- who sees what --------------------------------------------------------------------------


def test_other_user_gets_404(client, other_user, dashboard):
    client.force_login(other_user)
    assert client.get(dashboard.get_absolute_url()).status_code == 404
    assert client.get(tile_url(dashboard, "t1")).status_code == 404
    url = reverse("llm_artifact:dashboard_tile_change", args=[dashboard.pk, "t1", "wider"])
    assert client.post(url).status_code == 404


def test_staff_sees_and_arranges_it(client, staff, dashboard):
    client.force_login(staff)
    assert client.get(dashboard.get_absolute_url()).status_code == 200
    assert client.get(tile_url(dashboard, "t2"), HTTP_HX_REQUEST="true").status_code == 200
    url = reverse("llm_artifact:dashboard_tile_change", args=[dashboard.pk, "t1", "wider"])
    assert client.post(url).status_code == 302
    assert tiles(dashboard)[0]["width"] == 8


def test_group_viewer_sees_only_the_tiles_shared_with_them_and_a_note(
    client, group_viewer, team, dashboard, artifacts
):
    share(dashboard, team)
    share(artifacts[0], team)
    share(artifacts[1], team)
    client.force_login(group_viewer)
    response = client.get(dashboard.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert "Revenue" in html and "Orders by status" in html
    assert "Top customers" not in html
    assert "One tile is not shown: its artifact is not shared with you" in html
    assert html.count("data-tile-url=") == 2
    # No arranging for a viewer, and the hidden tile's URL shows only the note.
    assert "dashboard-tile-tools" not in html and "Add a tile" not in html
    hidden = client.get(tile_url(dashboard, "t3"), HTTP_HX_REQUEST="true").content.decode()
    assert "not shared with you" in hidden and "Alan Turing" not in hidden
    assert not ArtifactRun.objects.filter(artifact=artifacts[2]).exists()


def test_group_viewer_may_not_arrange_it(client, group_viewer, team, dashboard):
    share(dashboard, team)
    client.force_login(group_viewer)
    url = reverse("llm_artifact:dashboard_tile_change", args=[dashboard.pk, "t1", "remove"])
    assert client.post(url).status_code == 403
    assert len(tiles(dashboard)) == 3


def test_group_editor_arranges_it(client, group_editor, team, editors, dashboard, artifacts):
    share(dashboard, team, editors, edit=[editors])
    share(artifacts[0], team)
    client.force_login(group_editor)
    url = reverse("llm_artifact:dashboard_tile_change", args=[dashboard.pk, "t2", "up"])
    assert client.post(url).status_code == 302
    assert [t["id"] for t in tiles(dashboard)] == ["t2", "t1", "t3"]
    html = client.get(dashboard.get_absolute_url()).content.decode()
    assert "Add a tile" in html


# --- arranging ------------------------------------------------------------------------------


def post(client, name: str, dashboard, *args, **data):
    return client.post(reverse(f"llm_artifact:{name}", args=[dashboard.pk, *args]), data)


def test_move_resize_and_remove_tiles_with_buttons(client, owner, dashboard):
    client.force_login(owner)
    response = post(
        client,
        "dashboard_tile_change",
        dashboard,
        "t3",
        "up",
        anchor="tile-t3",
        period_from="2024-02-01",
        period_to="2024-03-01",
    )
    assert response.status_code == 302
    assert response["Location"] == (
        f"{dashboard.get_absolute_url()}?period_from=2024-02-01&period_to=2024-03-01#tile-t3"
    )
    assert [t["id"] for t in tiles(dashboard)] == ["t1", "t3", "t2"]
    post(client, "dashboard_tile_change", dashboard, "t1", "down")
    assert [t["id"] for t in tiles(dashboard)] == ["t3", "t1", "t2"]
    for _ in range(3):
        post(client, "dashboard_tile_change", dashboard, "t2", "wider")
    assert tiles(dashboard)[2]["width"] == 12
    post(client, "dashboard_tile_change", dashboard, "t2", "narrower")
    assert tiles(dashboard)[2]["width"] == 8
    post(client, "dashboard_tile_change", dashboard, "t1", "remove")
    assert [t["id"] for t in tiles(dashboard)] == ["t3", "t2"]
    assert post(client, "dashboard_tile_change", dashboard, "t1", "remove").status_code == 404
    assert post(client, "dashboard_tile_change", dashboard, "t2", "explode").status_code == 404


def test_drag_and_drop_posts_the_new_order(client, owner, dashboard):
    client.force_login(owner)
    url = reverse("llm_artifact:dashboard_order", args=[dashboard.pk])
    assert client.post(url, {"order": "t3,t1,t2"}, HTTP_HX_REQUEST="true").status_code == 204
    assert [t["id"] for t in tiles(dashboard)] == ["t3", "t1", "t2"]
    # An order that leaves a tile out (or makes one up) changes nothing.
    assert client.post(url, {"order": "t3,t1"}, HTTP_HX_REQUEST="true").status_code == 400
    assert client.post(url, {"order": "t3,t1,t2,t4"}).status_code == 302
    assert [t["id"] for t in tiles(dashboard)] == ["t3", "t1", "t2"]


def test_add_an_artifact_tile_and_a_text_tile(client, owner, dashboard, shop):
    extra = ArtifactFactory(owner=owner, title="Extra")
    client.force_login(owner)
    response = post(
        client,
        "dashboard_tile_add",
        dashboard,
        kind="artifact",
        artifact=extra.pk,
        show="table",
        width="12",
        title="",
    )
    assert response.status_code == 302
    post(
        client,
        "dashboard_tile_add",
        dashboard,
        kind="text",
        text="# Notes",
        width="4",
        show="table",
    )
    added = tiles(dashboard)[3:]
    assert added[0] == {**added[0], "artifact": str(extra.uid), "width": 12, "kind": "artifact"}
    assert added[1]["kind"] == "text" and added[1]["text"] == "# Notes"
    assert len({t["id"] for t in tiles(dashboard)}) == 5


def test_a_tile_of_an_artifact_one_may_not_see_is_refused(client, owner, other_user, dashboard):
    theirs = ArtifactFactory(owner=other_user)
    client.force_login(owner)
    response = post(
        client,
        "dashboard_tile_add",
        dashboard,
        kind="artifact",
        artifact=theirs.pk,
        show="table",
        width="6",
    )
    assert response.status_code == 302
    assert len(tiles(dashboard)) == 3
    page = client.get(response["Location"]).content.decode()
    assert "Select a valid choice" in page


def test_add_and_remove_a_filter(client, owner, dashboard):
    client.force_login(owner)
    post(
        client,
        "dashboard_filter_add",
        dashboard,
        label="Country",
        kind="value",
        params="country",
        default="",
    )
    filters = Artifact.objects.get(pk=dashboard.pk).document["filters"]
    assert filters[1] == {
        "name": "country",
        "kind": "value",
        "label": "Country",
        "params": ["country"],
        "default": [],
    }
    # A date range needs two parameters: refused with the type's reason.
    response = post(
        client,
        "dashboard_filter_add",
        dashboard,
        label="Shipped",
        kind="date_range",
        params="shipped_at",
        default="",
    )
    page = client.get(response["Location"]).content.decode()
    assert "a date range fills two parameters" in page
    post(client, "dashboard_filter_remove", dashboard, "period")
    filters = Artifact.objects.get(pk=dashboard.pk).document["filters"]
    assert [f["name"] for f in filters] == ["country"]


def test_a_value_filter_fills_the_tiles_that_declare_it(client, owner, shop):
    by_country = ArtifactFactory(
        owner=owner,
        title="Customers of a country",
        sql_query="SELECT name FROM customers WHERE country = :country ORDER BY name",
        query_params=[{"name": "country", "type": "string", "default": "GB"}],
    )
    dashboard = dashboard_for(
        owner,
        [by_country],
        filters=[{"name": "country", "kind": "value", "label": "Country", "params": ["country"]}],
    )
    client.force_login(owner)
    html = client.get(dashboard.get_absolute_url() + "?country=US").content.decode()
    assert 'name="country" value="US"' in html
    tile = client.get(tile_url(dashboard, "t1", country="US"), HTTP_HX_REQUEST="true")
    assert "Grace Hopper" in tile.content.decode()
    assert "Ada Lovelace" not in tile.content.decode()
    # Left blank, the tile keeps its own default.
    tile = client.get(tile_url(dashboard, "t1", country=""), HTTP_HX_REQUEST="true")
    assert "Ada Lovelace" in tile.content.decode()


def test_outsider_and_a_user_without_the_source_get_404(
    client, outsider, no_source_access, team, dashboard
):
    share(dashboard, team)
    for user in (outsider, no_source_access):
        client.force_login(user)
        assert client.get(dashboard.get_absolute_url()).status_code == 404
        assert client.get(tile_url(dashboard, "t1")).status_code == 404

"""Numbers that do not fit and JSON nested too deep: a clear 400 / inline error through
every face (API execute, export, chart image, create/update; the page's Run, full and htmx;
the chat card's Run; the chart editor; the agent's tools), with nothing half-written."""

from __future__ import annotations

import json
import math

import pytest
from django.urls import reverse

from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_artifact.services import run_artifact
from apps.llm_chat.agent import run_turn_sync
from apps.llm_chat.services import post_user_message
from tests.fakes.scripted import Call, Say, ScriptedModel, tool_text
from tests.llm_artifact.factories import BAR, ArtifactFactory, admin_form_data
from tests.llm_chat.factories import ChatFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
SQL = (
    "SELECT status, COUNT(*) AS orders FROM orders WHERE id < :n AND total >= :x "
    "GROUP BY status ORDER BY orders DESC, status"
)
DECLARATIONS = [
    {"name": "n", "type": "integer", "default": 100000},
    {"name": "x", "type": "number", "default": 0},
]
# Values no engine or JSON column can hold, as a form or a query string sends them.
BAD_TEXT_VALUES = [
    ("n", "9223372036854775808", "between"),  # 2**63
    ("n", "-9223372036854775809", "between"),
    ("n", "9" * 5000, "expected a whole number"),
    ("x", "1e400", "finite number"),
    ("x", "-1e400", "finite number"),
    ("x", "NaN", "finite number"),
    ("x", "Infinity", "finite number"),
]


def nested(depth: int) -> dict:
    """{"usermeta": {"a": {"a": ... 1}}} with `depth` levels of objects in all."""
    value: object = 1
    for _ in range(depth - 1):
        value = {"a": value}
    return {"usermeta": value}


@pytest.fixture
def artifact(shop, owner) -> Artifact:
    return ArtifactFactory(
        owner=owner,
        title="Orders by status",
        sql_query=SQL,
        query_params=DECLARATIONS,
        visualization_config=BAR,
    )


def assert_nothing_ran(artifact: Artifact) -> None:
    assert not ArtifactRun.objects.exists()
    artifact.refresh_from_db()
    assert (artifact.status, artifact.execution_count, artifact.last_error) == ("active", 0, "")


# --- the API -------------------------------------------------------------------------------


def execute_url(artifact: Artifact) -> str:
    return reverse("api:artifact-execute", args=[artifact.pk])


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("n", 2**63, "between"),
        ("n", -(2**63) - 1, "between"),
        ("n", 2**200, "between"),
        ("n", 1e300, "between"),
        ("x", 2**2000, "finite number"),
        ("x", [1], "not a list"),
        ("x", {"a": 1}, "not an object"),
        *BAD_TEXT_VALUES,
    ],
)
def test_execute_refuses_values_that_do_not_fit(owner_api, artifact, name, value, words):
    response = owner_api.post(execute_url(artifact), {"params": {name: value}}, format="json")
    assert response.status_code == 400
    message = response.json()["params"][name][0]
    assert f"Parameter '{name}'" in message and words in message
    assert_nothing_ran(artifact)


@pytest.mark.parametrize("number", ["1e400", "-1e999", "NaN", "Infinity", "-Infinity"])
def test_execute_refuses_non_finite_json_numbers_as_a_parse_error(owner_api, artifact, number):
    response = owner_api.post(
        execute_url(artifact), f'{{"params": {{"x": {number}}}}}', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")
    assert_nothing_ran(artifact)


def test_the_limits_themselves_still_run(owner_api, artifact):
    response = owner_api.post(
        execute_url(artifact), {"params": {"n": 2**63 - 1, "x": -1.5e308}}, format="json"
    )
    assert response.status_code == 200
    params = ArtifactRun.objects.get().params
    # PostgreSQL's jsonb keeps -1.5e308 as a numeric and hands it back as a whole number.
    assert params["n"] == 2**63 - 1 and float(params["x"]) == -1.5e308


@pytest.mark.parametrize(("name", "value", "words"), BAD_TEXT_VALUES)
def test_export_refuses_them_before_a_byte_is_sent(owner_api, artifact, name, value, words):
    url = reverse("api:artifact-export", args=[artifact.pk])
    response = owner_api.get(url, {"format": "json", name: value})
    assert response.status_code == 400
    assert words in response.json()["params"][name][0]
    assert_nothing_ran(artifact)


@pytest.mark.parametrize(("name", "value", "words"), BAD_TEXT_VALUES[:4])
def test_chart_image_refuses_them(owner_api, artifact, name, value, words):
    url = reverse("api:artifact-chart", kwargs={"pk": artifact.pk, "format": "png"})
    response = owner_api.get(url, {name: value})
    assert response.status_code == 400
    assert words in json.dumps(response.json())
    assert_nothing_ran(artifact)


def test_chart_image_refuses_a_nan_scale(owner_api, artifact):
    url = reverse("api:artifact-chart", kwargs={"pk": artifact.pk, "format": "png"})
    response = owner_api.get(url, {"scale": "nan"})
    assert response.status_code == 400
    assert "scale" in response.json()
    assert_nothing_ran(artifact)


@pytest.mark.parametrize(
    ("declaration", "words"),
    [
        ({"name": "n", "type": "integer", "default": 2**64}, "between"),
        ({"name": "n", "type": "integer", "default": "99999999999999999999"}, "between"),
        ({"name": "x", "type": "number", "default": "1e400"}, "finite number"),
        ({"name": "x", "type": "number", "default": "NaN"}, "finite number"),
        ({"name": "x", "type": "number", "default": [1.5]}, "not a list"),
        ({"name": "s", "type": "string", "label": nested(40)}, "nested too deeply"),
    ],
)
def test_create_and_update_refuse_declarations_that_do_not_fit(
    owner_api, artifact, declaration, words
):
    sql = f"SELECT :{declaration['name']} AS v"
    payload = {"title": "T", "sql_query": sql, "query_params": [declaration]}
    response = owner_api.post(reverse("api:artifact-list"), payload, format="json")
    assert response.status_code == 400
    [message] = response.json()["query_params"]
    assert f"Parameter '{declaration['name']}'" in message and words in message
    assert Artifact.objects.count() == 1

    url = reverse("api:artifact-detail", args=[artifact.pk])
    response = owner_api.patch(url, payload, format="json")
    assert response.status_code == 400
    artifact.refresh_from_db()
    assert (artifact.sql_query, artifact.query_params) == (SQL, DECLARATIONS)


@pytest.mark.parametrize("default", ["1e400", "NaN", "-Infinity", '"a\\u0000b"'])
def test_a_non_finite_json_default_is_a_parse_error(owner_api, default):
    body = (
        '{"title": "T", "sql_query": "SELECT :x AS v", '
        f'"query_params": [{{"name": "x", "type": "number", "default": {default}}}]}}'
    )
    response = owner_api.post(reverse("api:artifact-list"), body, content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert not Artifact.objects.exists()


def test_a_deeply_nested_usermeta_is_never_stored(owner_api, artifact):
    run_artifact(artifact, user=artifact.owner, raw_params={})
    url = reverse("api:artifact-detail", args=[artifact.pk])
    response = owner_api.patch(url, {"visualization_config": {**BAR, **nested(40)}}, format="json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["visualization_config"][0]
    artifact.refresh_from_db()
    assert artifact.visualization_config == BAR


@pytest.mark.parametrize("depth", [100, 1000, 100_000])
def test_a_body_nested_too_deep_is_a_400_on_every_json_endpoint(owner_api, artifact, depth):
    body = '{"a": ' * depth + "1" + "}" * depth
    for url in [
        reverse("api:artifact-list"),
        execute_url(artifact),
        reverse("api:sql-validate"),
        reverse("api:chat-list"),
    ]:
        response = owner_api.post(url, body, content_type="application/json")
        assert response.status_code == 400, url
        assert "nested too deeply" in response.json()["detail"]
    assert_nothing_ran(artifact)
    assert Artifact.objects.count() == 1


# --- a deep spec stored before the limit: refused at use, never a 500 -------------------------


@pytest.fixture
def deep_chart(artifact) -> Artifact:
    # Written past the model's checks, as an older version could have stored it.
    Artifact.objects.filter(pk=artifact.pk).update(visualization_config={**BAR, **nested(400)})
    artifact.refresh_from_db()
    return artifact


def test_a_stored_deep_spec_gives_a_400_chart_image(owner_api, deep_chart):
    url = reverse("api:artifact-chart", kwargs={"pk": deep_chart.pk, "format": "svg"})
    response = owner_api.get(url)
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_a_stored_deep_spec_still_lets_the_page_and_card_run(owner_client, deep_chart):
    run = reverse("llm_artifact:artifact_run", args=[deep_chart.pk])
    card = reverse("llm_artifact:artifact_card_run", args=[deep_chart.pk])
    for response in [
        owner_client.get(deep_chart.get_absolute_url()),
        owner_client.post(run, headers=HTMX),
        owner_client.post(run),
        owner_client.post(card, headers=HTMX),
    ]:
        assert response.status_code == 200
    content = response.content.decode()
    assert "nested too deeply" in content and ">paid</td>" in content
    assert ArtifactRun.objects.filter(outcome="ok").count() == 3


# --- the pages -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value", "words"), BAD_TEXT_VALUES)
@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "full-page"])
def test_page_run_shows_the_error_beside_the_input(
    owner_client, artifact, name, value, words, headers
):
    url = reverse("llm_artifact:artifact_run", args=[artifact.pk])
    response = owner_client.post(url, {name: value}, headers=headers)
    assert response.status_code == 422
    content = response.content.decode()
    assert f'id="param-{name}_error"' in content and words in content
    assert_nothing_ran(artifact)


@pytest.mark.parametrize(
    ("default", "words"),
    [(2**64, "between"), ("1e400", "finite number"), ("NaN", "finite number")],
)
def test_card_and_page_name_a_stored_default_that_does_not_fit(
    owner_client, artifact, default, words
):
    # Stored past the model's checks, as an older version could have: nothing runs.
    declarations = [{"name": "n", "type": "integer"}, {"name": "x", "type": "number"}]
    declarations[0 if isinstance(default, int) else 1]["default"] = default
    Artifact.objects.filter(pk=artifact.pk).update(query_params=declarations)
    card = reverse("llm_artifact:artifact_card_run", args=[artifact.pk])
    run = reverse("llm_artifact:artifact_run", args=[artifact.pk])
    for response in [
        owner_client.post(card, headers=HTMX),
        owner_client.post(run, headers=HTMX),
        owner_client.get(artifact.get_absolute_url()),
    ]:
        assert response.status_code in (200, 422)
        content = response.content.decode()
        assert "its parameter declarations are invalid" in content and words in content
    assert_nothing_ran(artifact)


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ('{"mark": "bar", "width": NaN}', "NaN is not a number JSON allows"),
        ('{"mark": "bar", "width": 1e400}', "too large"),
        ('{"mark": "bar", "width": -Infinity}', "-Infinity is not a number JSON allows"),
        ('{"mark": "bar", "usermeta": ' + '{"a": ' * 40 + "1" + "}" * 41, "nested too deeply"),
        ('{"usermeta": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
        ('{"width": ' + "9" * 5000 + "}", "not valid JSON"),
    ],
)
@pytest.mark.parametrize("action", ["check", "save"])
def test_chart_editor_refuses_what_the_api_refuses(owner_client, artifact, typed, words, action):
    url = reverse("llm_artifact:artifact_chart", args=[artifact.pk])
    response = owner_client.post(
        url, {"action": action, "visualization_config": typed}, headers=HTMX
    )
    assert response.status_code in (200, 422)
    assert words in response.content.decode()
    artifact.refresh_from_db()
    assert artifact.visualization_config == BAR


# --- results that JSON cannot hold -----------------------------------------------------------


@pytest.fixture
def overflowing(shop, owner) -> Artifact:
    return ArtifactFactory(
        owner=owner,
        title="Overflow",
        sql_query=(
            "SELECT 1e308 * 10 AS up, -1e308 * 10 AS down, "
            "99999999999999999999999 AS huge, 1 AS one"
        ),
    )


def test_non_finite_results_run_and_render_everywhere(owner_api, owner_client, overflowing):
    response = owner_api.post(execute_url(overflowing), {}, format="json")
    assert response.status_code == 200
    assert response.json()["rows"] == [[None, None, 1e23, 1]]

    url = reverse("api:artifact-export", args=[overflowing.pk])
    export = owner_api.get(url, {"format": "json"})
    assert export.status_code == 200
    assert json.loads(b"".join(export.streaming_content)) == [
        {"up": None, "down": None, "huge": 1e23, "one": 1}
    ]
    for fmt in ["csv", "xlsx"]:
        export = owner_api.get(url, {"format": fmt})
        assert export.status_code == 200
        assert b"".join(export.streaming_content)

    run = reverse("llm_artifact:artifact_run", args=[overflowing.pk])
    card = reverse("llm_artifact:artifact_card_run", args=[overflowing.pk])
    assert owner_client.post(run, headers=HTMX).status_code == 200
    assert owner_client.post(card, headers=HTMX).status_code == 200
    assert ArtifactRun.objects.filter(outcome="ok").count() == 6  # one per request


# --- the agent's tools ---------------------------------------------------------------------


@pytest.fixture
def chat(owner, shop):
    return ChatFactory(owner=owner)


def ask(chat, script: ScriptedModel):
    return run_turn_sync(chat, post_user_message(chat, content="Go"), model=script.model)


def test_save_artifact_gets_the_declaration_errors_back(chat):
    seen = []

    def check(messages):
        seen.append(tool_text(messages))
        return Say("I will fix it.")

    params = [
        {"name": "n", "type": "integer", "default": 2**64},
        {"name": "x", "type": "number", "default": "1e400"},
    ]
    script = ScriptedModel(
        Call(
            "save_artifact",
            {"title": "T", "sql": "SELECT :n AS n, :x AS x", "params": params},
        ),
        check,
    )
    outcome = ask(chat, script)

    assert outcome.reply.status == "complete"
    [feedback] = seen
    assert feedback.startswith("Nothing was saved.")
    assert "Parameter 'n'" in feedback and "between" in feedback
    assert "Parameter 'x'" in feedback and "finite number" in feedback
    assert not Artifact.objects.exists()


def test_update_artifact_gets_the_chart_depth_error_back(chat):
    artifact = ArtifactFactory(owner=chat.owner, chat=chat, sql_query="SELECT 1 AS one")
    seen = []

    def check(messages):
        seen.append(tool_text(messages))
        return Say("I will fix it.")

    spec = {"data": {"name": "results"}, "mark": "bar", **nested(40)}
    script = ScriptedModel(
        Call("update_artifact", {"artifact_id": artifact.pk, "visualization": spec}), check
    )
    ask(chat, script)

    [feedback] = seen
    assert feedback.startswith("Nothing was saved.") and "nested too deeply" in feedback
    artifact.refresh_from_db()
    assert artifact.visualization_config == {}


def test_run_sql_with_a_value_no_engine_holds_answers_the_model(chat):
    seen = []

    def check(messages):
        seen.append(tool_text(messages))
        return Say("I will fix it.")

    script = ScriptedModel(
        Call("run_sql", {"sql": "SELECT :n AS n", "params": {"n": 2**70}}), check
    )
    outcome = ask(chat, script)

    assert outcome.reply.status == "complete"
    [feedback] = seen
    assert feedback.startswith("The query failed") and "too large" in feedback


def test_save_artifact_with_an_infinite_default_gets_the_error_back(chat):
    seen = []

    def check(messages):
        seen.append(tool_text(messages))
        return Say("I will fix it.")

    params = [{"name": "x", "type": "number", "default": math.inf}]
    script = ScriptedModel(
        Call("save_artifact", {"title": "T", "sql": "SELECT :x AS x", "params": params}), check
    )
    outcome = ask(chat, script)

    assert outcome.reply.status == "complete"
    [feedback] = seen
    assert feedback.startswith("Nothing was saved.") and "Parameter 'x'" in feedback
    assert not Artifact.objects.exists()


# --- the admin -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "typed", "words"),
    [
        ("query_params", '[{"name": "x", "type": "number", "default": NaN}]', "NaN"),
        ("query_params", '[{"name": "n", "type": "integer", "default": 1e400}]', "too large"),
        ("query_params", "[" * 5000 + "]" * 5000, "nested too deeply"),
        (
            "visualization_config",
            '{"mark": "bar", "usermeta": ' + "[" * 40 + "]" * 40 + "}",
            "deeply",
        ),
    ],
)
def test_the_admin_form_refuses_them_too(client, staff, artifact, field, typed, words):
    client.force_login(staff)
    url = reverse("admin:llm_artifact_artifact_change", args=[artifact.pk])
    response = client.post(url, admin_form_data(artifact, **{field: typed}))
    assert response.status_code == 200
    assert words in response.content.decode()
    artifact.refresh_from_db()
    assert (artifact.query_params, artifact.visualization_config) == (DECLARATIONS, BAR)

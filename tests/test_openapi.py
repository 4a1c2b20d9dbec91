from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml
from django.core.management import call_command
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client) -> dict:
    response = client.get(reverse("api-schema"), {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def test_schema_generates_and_validates_without_warnings(tmp_path):
    path = tmp_path / "schema.yaml"

    # --fail-on-warn turns any warning (an untyped field, a guessed path parameter, an enum
    # name collision) into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))

    assert yaml.safe_load(path.read_text())["openapi"].startswith("3.")


def test_schema_lists_every_endpoint_and_method(schema):
    methods = {path: set(operations) for path, operations in schema["paths"].items()}

    assert methods == {
        "/api/auth/token/": {"post"},
        "/api/agents/": {"get", "post"},
        "/api/agents/{id}/": {"get", "put", "patch", "delete"},
        "/api/chats/": {"get", "post"},
        "/api/chats/{id}/": {"get", "put", "patch", "delete"},
        "/api/chats/{id}/messages/": {"get", "post"},
        "/api/chats/{id}/messages/{message_id}/retry/": {"post"},
        "/api/artifacts/": {"get", "post"},
        "/api/artifacts/{id}/": {"get", "put", "patch", "delete"},
        "/api/artifacts/export/": {"get", "post"},
        "/api/artifacts/import/": {"post"},
        "/api/artifacts/{id}/execute/": {"post"},
        "/api/artifacts/{id}/instantiate/": {"post"},
        "/api/artifacts/{id}/runs/": {"get"},
        "/api/artifacts/{id}/jobs/": {"get"},
        "/api/artifact-jobs/": {"get"},
        "/api/artifact-jobs/{id}/": {"get"},
        "/api/artifact-jobs/{id}/cancel/": {"post"},
        "/api/artifact-jobs/{id}/download/": {"get"},
        "/api/artifacts/{id}/export/": {"get"},
        "/api/artifacts/{id}/chart/": {"get"},
        "/api/artifacts/{id}/transfer/": {"post"},
        "/api/chats/{id}/transfer/": {"post"},
        "/api/groups/": {"get"},
        "/api/artifacts/{id}/verify/": {"post"},
        "/api/artifacts/{id}/unverify/": {"post"},
        "/api/tags/": {"get"},
        "/api/data-sources/": {"get"},
        "/api/data-sources/{name}/schema/": {"get"},
        "/api/sql/validate/": {"post"},
        "/api/sql/format/": {"post"},
        "/api/sql/run/": {"post"},
        "/api/notifications/": {"get"},
        "/api/notifications/{id}/": {"get"},
        "/api/notifications/{id}/read/": {"post"},
        "/api/notifications/read-all/": {"post"},
        "/api/schedules/": {"get", "post"},
        "/api/schedules/{id}/": {"get", "put", "patch", "delete"},
        "/api/schedules/{id}/pause/": {"post"},
        "/api/schedules/{id}/resume/": {"post"},
        "/api/schedules/{id}/run/": {"post"},
        "/api/alerts/": {"get", "post"},
        "/api/alerts/{id}/": {"get", "put", "patch", "delete"},
        "/api/subscriptions/": {"get", "post"},
        "/api/subscriptions/{id}/": {"get", "delete"},
    }


def _ref(content: dict) -> str:
    return content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]


def test_messages_endpoint_is_described_as_used(schema):
    messages = schema["paths"]["/api/chats/{id}/messages/"]

    assert _ref(messages["get"]["responses"]["200"]["content"]) == "PaginatedMessageList"
    assert {p["name"] for p in messages["get"]["parameters"]} == {"id", "page", "page_size"}
    post = messages["post"]["responses"]
    assert set(post) == {"200", "201", "400", "401", "403", "404", "409", "413", "415"}
    # 201: the question and the reply; 200: the same turn as Server-Sent Events.
    assert post["201"]["content"]["application/json"]["schema"]["type"] == "array"
    assert post["201"]["content"]["application/json"]["schema"]["items"]["$ref"].endswith(
        "/Message"
    )
    assert set(post["200"]["content"]) == {"text/event-stream"}
    assert _ref(messages["post"]["requestBody"]["content"]) == "MessageRequest"
    request_fields = schema["components"]["schemas"]["MessageRequest"]
    assert set(request_fields["properties"]) == {"content"}
    assert request_fields["required"] == ["content"]
    message = schema["components"]["schemas"]["Message"]["properties"]
    assert message["artifact"]["allOf"][0]["$ref"].endswith("/ArtifactSummary")
    assert message["artifact"]["nullable"] is True
    assert message["artifacts"]["items"]["$ref"].endswith("/LinkedArtifact")


def test_retry_endpoint_documents_json_and_event_stream(schema):
    retry = schema["paths"]["/api/chats/{id}/messages/{message_id}/retry/"]["post"]
    assert set(retry["responses"]) == {"200", "401", "403", "404", "409"}
    assert set(retry["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    assert {p["name"] for p in retry["parameters"]} == {"id", "message_id"}


def test_artifact_list_documents_filters_search_ordering_and_paging(schema):
    parameters = {p["name"] for p in schema["paths"]["/api/artifacts/"]["get"]["parameters"]}

    assert parameters == {
        "status",
        "artifact_type",
        "chat",
        "agent",
        "data_source",
        "owner",
        "scope",
        "created_after",
        "created_before",
        "updated_after",
        "updated_before",
        "last_executed_after",
        "last_executed_before",
        "tag",
        "verified",
        "search",
        "ordering",
        "page",
        "page_size",
        "cursor",
    }


def test_artifact_json_fields_have_their_shapes(schema):
    artifact = schema["components"]["schemas"]["ArtifactRequest"]["properties"]

    assert artifact["query_params"]["type"] == "array"
    assert artifact["query_params"]["items"]["properties"]["type"]["enum"] == [
        "string",
        "integer",
        "number",
        "boolean",
        "date",
        "datetime",
    ]
    assert artifact["visualization_config"]["type"] == "object"
    assert "owner" not in artifact
    assert "execution_count" not in artifact


def test_agent_schema_exposes_the_key_variable_never_the_key(schema):
    agent = schema["components"]["schemas"]["Agent"]["properties"]
    agent_request = schema["components"]["schemas"]["AgentRequest"]["properties"]

    assert agent["api_key_is_set"] == {"type": "boolean", "readOnly": True}
    assert "api_key_env" in agent_request
    assert "api_key_is_set" not in agent_request
    assert not [name for name in agent if name in {"api_key", "key", "secret"}]


def test_token_and_session_authentication_are_documented(schema):
    schemes = schema["components"]["securitySchemes"]
    token = schema["paths"]["/api/auth/token/"]["post"]

    assert schemes["tokenAuth"]["in"] == "header"
    assert "cookieAuth" in schemes
    # No security requirement, neither on the operation nor globally: anyone may ask.
    assert token.get("security", []) == []
    assert "security" not in schema
    assert _ref(token["responses"]["200"]["content"]) == "AuthToken"
    assert _ref(token["requestBody"]["content"]) == "AuthTokenRequest"


def test_docs_page_loads_swagger_ui_from_our_static_files(client):
    response = client.get(reverse("api-docs"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page
    assert not re.search(r"cdn|jsdelivr|unpkg|cdnjs", page, re.IGNORECASE)
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
        assert client.get(asset).status_code == 200, asset


def _responses(schema: dict, path: str, method: str) -> dict:
    return schema["paths"][path][method]["responses"]


def _body_schema(schema: dict, response: dict) -> dict:
    body = response["content"]["application/json"]["schema"]
    # The components travel along, so that "#/components/..." references resolve.
    return {**body, "components": schema["components"]}


def _branches_matched(schema: dict, response: dict, body) -> int:
    """How many branches of the (possibly nested) oneOf of an error response `body` matches."""
    full = _body_schema(schema, response)
    validator = jsonschema.Draft4Validator(full)
    assert validator.is_valid(body), list(validator.iter_errors(body))
    count, branches = 0, [full]
    while branches:
        branch = branches.pop()
        if "$ref" in branch:
            branch = schema["components"]["schemas"][branch["$ref"].rsplit("/", 1)[-1]]
        if "oneOf" in branch:
            branches.extend(branch["oneOf"])
            continue
        count += jsonschema.Draft4Validator(
            {**branch, "components": schema["components"]}
        ).is_valid(body)
    return count


def test_every_operation_documents_the_errors_it_really_returns(schema):
    responses = {
        (method.upper(), path): set(operation["responses"])
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }

    # Signed-in only: 401 everywhere but the token endpoint, which has no credentials to
    # check but is throttled.
    assert all("401" in codes for (_, path), codes in responses.items() if "auth" not in path)
    assert {"400", "413", "415", "429"} <= responses["POST", "/api/auth/token/"]
    assert "401" not in responses["POST", "/api/auth/token/"]
    # An object in the path, or a page past the last: 404.
    assert "404" in responses["GET", "/api/artifacts/{id}/"]
    assert "404" in responses["GET", "/api/chats/"]
    # A body: field errors or a body that is not JSON (400), too big (413), not JSON (415).
    assert {"400", "413", "415"} <= responses["POST", "/api/chats/"]
    # Filters: 400 for a bad value; staff-only writes: 403.
    assert "400" in responses["GET", "/api/agents/"]
    assert "403" in responses["PUT", "/api/agents/{id}/"]
    # Nothing invented: no body, no 413; no filters, no 400; reads are not refused with 403.
    assert not {"400", "413"} & responses["GET", "/api/data-sources/"]
    assert "403" not in responses["GET", "/api/artifacts/{id}/"]
    not_found = _responses(schema, "/api/chats/{id}/", "get")["404"]
    assert _body_schema(schema, not_found)["$ref"].endswith("/ErrorDetail")


@pytest.mark.parametrize(
    "body",
    [
        {"title": ["This field is required."]},
        {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]},
        {"query_params": {"0": {"name": ["Enter a valid name."]}}},
        {"detail": "JSON parse error - This is not valid JSON."},
    ],
)
def test_a_standard_400_matches_exactly_one_documented_shape(schema, body):
    bad_request = _responses(schema, "/api/artifacts/", "post")["400"]

    assert _branches_matched(schema, bad_request, body) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"params": {"since": ["Enter a valid date."]}},
        {"params": ['Expected a dictionary of items but got type "list".']},
        {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]},
        {"detail": "The query timed out.", "outcome": "timeout", "run_id": 3},
        {"detail": "JSON parse error - This is not valid JSON."},
    ],
)
def test_each_execute_error_matches_exactly_one_documented_shape(schema, body):
    bad_request = _responses(schema, "/api/artifacts/{id}/execute/", "post")["400"]

    assert _branches_matched(schema, bad_request, body) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"width": ["Ensure this value is greater than or equal to 50."]},
        {"params": {"since": ["Enter a valid date."]}},
        {"detail": "The query failed.", "outcome": "error", "run_id": 3},
        # (run_id may be null too: `nullable` is OpenAPI's, which jsonschema does not read.)
        {"detail": "The chart could not be drawn.", "problems": [], "run_id": 5},
        {
            "detail": "The chart spec is not valid.",
            "problems": [{"path": "mark", "message": "Unknown.", "severity": "error"}],
            "run_id": 4,
        },
    ],
)
def test_each_chart_error_matches_exactly_one_documented_shape(schema, body):
    bad_request = _responses(schema, "/api/artifacts/{id}/chart/", "get")["400"]

    assert _branches_matched(schema, bad_request, body) == 1


def test_shared_rows_document_their_sharing_fields(schema):
    components = schema["components"]["schemas"]
    for name in ("Artifact", "Chat"):
        properties = components[name]["properties"]
        assert {"owner", "visibility", "shares", "can_edit", "can_manage"} <= set(properties)
        assert properties["can_edit"]["readOnly"] is True
    share = components["Share"]["properties"]
    assert set(share) == {"group", "group_name", "access"}
    # Chats are shared read-only: their shares' access is "view" alone.
    chat_access = components["ChatShare"]["properties"]["access"]["allOf"][0]["$ref"]
    assert components[chat_access.rsplit("/", 1)[-1]]["enum"] == ["view"]
    scope = next(
        p for p in schema["paths"]["/api/chats/"]["get"]["parameters"] if p["name"] == "scope"
    )
    assert sorted(scope["schema"]["enum"]) == ["all", "everyone", "mine", "shared"]
    groups = schema["paths"]["/api/groups/"]["get"]["responses"]["200"]["content"]
    assert _ref(groups) == "PaginatedGroupList"
    transfer = schema["paths"]["/api/artifacts/{id}/transfer/"]["post"]
    assert {"200", "400", "401", "403", "404"} <= set(transfer["responses"])

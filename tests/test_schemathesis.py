"""Schemathesis against our own OpenAPI schema, in-process through the WSGI app.

Every operation of /api/schema/ gets generated requests, valid and invalid, as the owner of
real objects (ids in paths point at them) and as another user, who must get 404 for the
owner's chats and artifacts. No answer may be a server error, use an undocumented status
code or break its documented schema. Examples are few, derandomized and not shrunk, so the
run is the same every time and takes a minute or two (`-m fuzz` selects it).

Every failure an operation shows is collected (not only the first) as a class such as
"ST103 Undocumented status code 404". Classes found and not fixed yet would be listed once, in
KNOWN_FAILURES (empty today): an operation that shows only known classes is an xfail; a new
class fails,
and so does an operation listed there that shows none (the fix landed: delete the line), or
a listed crash that no longer happens.
Set FUZZ_FINDINGS=/some/file.jsonl to append one example request per class found.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
# An operation schemathesis cannot read raises here (Err has no ok()): loud, never skipped.
OPERATIONS = {result.ok().label: result.ok() for result in schema.get_all_operations()}
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
MAX_EXAMPLES = 12

# Operations on the owner's own objects: another user must get 404 for every one of them.
PRIVATE_PREFIXES = ("/api/chats/{id}", "/api/artifacts/{id}")
LEAK = "LEAK another user did not get 404"

UNDOCUMENTED = "ST103 Undocumented status code"
SCHEMA_VIOLATION = "ST108 Response violates schema"
SERVER_ERROR = "ST101 Server error"
CUT = "CUT answer broken off by"
ACCEPTED = "ACCEPTED a hostile input with"
# A 500 shows as two classes: the server error and its undocumented status code.
CRASH = {SERVER_ERROR, f"{UNDOCUMENTED} 500"}

# (persona, "METHOD /path") -> the failure classes it shows today. The one list to shrink:
# empty since issue 9 (section 4: apps.core.openapi documents every operation's error
# answers; section 1: the hostile inputs below are refused with a 400). A class found from now
# on is a defect: fix it, or list it here with the reason while it waits.
KNOWN_FAILURES: dict[tuple[str, str], set[str]] = {}


# Inputs random generation rarely reaches, from issue 9 section 1 (numbers that do not fit,
# deep nesting, wrong types), sent as raw JSON bodies through the same checks after the
# generated ones; each must also be refused (a 2xx is the class ACCEPTED).
DEEP_JSON = b"[" * 1000 + b"]" * 1000
DEEP_SQL = "SELECT " + "(" * 60 + "1" + ")" * 60
HOSTILE_BODIES: dict[str, list[bytes]] = {
    "POST /api/sql/validate/": [json.dumps({"sql": DEEP_SQL}).encode(), DEEP_JSON],
    "POST /api/sql/format/": [json.dumps({"sql": DEEP_SQL}).encode(), DEEP_JSON],
    "POST /api/sql/run/": [
        json.dumps({"sql": DEEP_SQL}).encode(),
        b'{"sql": "SELECT :n AS n", "declarations": [{"name": "n", "type": "number"}], '
        b'"params": {"n": 1e400}}',
        DEEP_JSON,
    ],
    "POST /api/artifacts/": [
        b'{"title": "n", "sql_query": "SELECT :n AS n", "data_source": "marketplace", '
        b'"query_params": [{"name": "n", "type": "number", "default": 1e400}]}',
        json.dumps({"title": "deep", "sql_query": DEEP_SQL, "data_source": "marketplace"}).encode(),
    ],
    "PATCH /api/artifacts/{id}/": [
        b'{"visualization_config": {"mark": "bar", "usermeta": ' + DEEP_JSON + b"}}",
    ],
    # (A 23-digit value is no hostile input here: min_total is a number, which binds it as
    # the float 1e23; integer parameters refuse it, tests/llm_artifact/test_input_bounds.py.)
    "POST /api/artifacts/{id}/execute/": [b'{"params": {"min_total": 1e400}}', DEEP_JSON],
    # Slot values are names from the schema, never SQL; huge and wrong values are refused.
    "POST /api/artifacts/{id}/instantiate/": [
        DEEP_JSON,
        b'{"data_source": "marketplace", "slots": {"table": "orders\\"; DROP TABLE orders; --",'
        b' "dimension": "status", "measure": "total"}}',
        b'{"data_source": "marketplace", "slots": {"table": "orders", "dimension": "status", '
        b'"measure": "total"}, "params": {"n": 1e400}, "preview": true}',
    ],
    # A bundle is checked as if typed: a write, a non-finite default and deep nesting are
    # refused per item, nothing imported.
    "POST /api/artifacts/import/": [
        DEEP_JSON,
        json.dumps(
            {
                "format": "llm-artifacts-bundle",
                "version": 1,
                "artifacts": [
                    {
                        "uid": "0b7a4c1e-0000-4000-8000-000000000001",
                        "title": "drop",
                        "type": "sql_query",
                        "sql": "DROP TABLE orders",
                        "data_source": "marketplace",
                    }
                ],
            }
        ).encode(),
        b'{"format": "llm-artifacts-bundle", "version": 1, "artifacts": [{"uid": '
        b'"0b7a4c1e-0000-4000-8000-000000000002", "title": "n", "type": "sql_query", '
        b'"sql": "SELECT :n AS n", "data_source": "marketplace", "parameters": '
        b'[{"name": "n", "type": "number", "default": 1e400}]}]}',
    ],
    "POST /api/artifacts/export/": [DEEP_JSON, b'{"ids": [1e400]}', b'{"ids": "1"}'],
    # Wrong types must be refused, not converted ("123", agent 1).
    "POST /api/chats/": [DEEP_JSON, b'{"title": 123, "agent": 1.5}'],
    # A share's misspelt field must not share for viewing only; a group id of the wrong type.
    "PATCH /api/chats/{id}/": [
        b'{"shares": [{"group": 1, "can_edit": true}]}',
        b'{"visibility": "groups", "shares": [{"group": "1"}, {"group": 1.5}]}',
    ],
    "POST /api/artifacts/{id}/transfer/": [b'{"owner": 12}', b'{"owner": ["other"]}', DEEP_JSON],
    "POST /api/chats/{id}/transfer/": [b'{"owner": null}', b'{"owner": {"username": "other"}}'],
}
# Operations whose refusal of a hostile input is a 200 with a verdict, as documented.
REFUSED_IN_200: dict[str, Callable[[dict], bool]] = {
    # The guard's verdict: a rejected statement is `valid: false`, nothing ran.
    "POST /api/sql/validate/": lambda body: body["valid"] is False,
}
# The same through query strings: a run's parameters as the chart image and export take them.
HOSTILE_QUERIES: dict[str, list[dict[str, str]]] = {
    "GET /api/artifacts/{id}/chart/": [{"min_total": "1e400"}],
    "GET /api/artifacts/{id}/export/": [{"min_total": "1e400"}],
}


def _real_path_parameters(path: str, world) -> dict[str, object]:
    """The owner's objects for the path's placeholders."""
    if path.startswith("/api/agents/"):
        object_id = world.agent.pk
    elif path.startswith("/api/chats/"):
        object_id = world.chat.pk
    elif path.endswith("/instantiate/"):
        from tests.llm_artifact.factories import template_for

        object_id = template_for(world.artifact.owner, title="Owner template zq3").pk
    else:
        object_id = world.artifact.pk
    values = {"id": object_id, "message_id": world.question.pk, "name": world.data_source}
    return {name: value for name, value in values.items() if "{" + name + "}" in path}


def _failure_classes(failures: list[Failure], status: int) -> set[str]:
    classes = set()
    for failure in failures:
        name = f"{failure.code} {failure.title}"
        if failure.code in {"ST103", "ST108"}:
            name += f" {status}"
        classes.add(name)
    return classes


@pytest.fixture
def world(owner_world, keep_db_connection_open):
    return owner_world


@pytest.mark.parametrize("persona", ["owner", "other"])
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_api_conforms_to_its_schema(label, persona, world):
    operation = OPERATIONS[label]
    path_parameters = _real_path_parameters(operation.path, world)
    token = world.tokens["owner" if persona == "owner" else "other"]
    headers = {"Authorization": f"Token {token}"}
    found: dict[str, str] = {}

    @given(
        case=st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=path_parameters),
            operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=path_parameters),
        )
    )
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        # Generation only: no shrinking or targeting, so the run stays bounded.
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case):
        check(case)

    def check(case, hostile: bool = False):
        case.path_parameters = {**(case.path_parameters or {}), **path_parameters}
        try:
            # A savepoint: a database error mid-answer must not break the test's transaction.
            with transaction.atomic():
                response = case.call(headers=headers)
        except Exception as error:
            # The app raised while streaming the body: the client saw a 200 and a cut.
            found.setdefault(f"{CUT} {type(error).__name__}", case.as_curl_command(headers=headers))
            return
        classes: set[str] = set()
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            classes |= _failure_classes(list(group.exceptions), response.status_code)
        except Failure as failure:
            classes |= _failure_classes([failure], response.status_code)
        if hostile and 200 <= response.status_code < 300:
            refused = REFUSED_IN_200.get(label)
            if refused is None or not refused(response.json()):
                classes.add(f"{ACCEPTED} {response.status_code}")
        private = persona == "other" and operation.path.startswith(PRIVATE_PREFIXES)
        if private and response.status_code != 404:
            classes.add(f"{LEAK} ({response.status_code})")
        for name in classes:
            found.setdefault(
                name,
                f"{case.as_curl_command(headers=headers)}\n-> "
                f"{response.status_code} {response.text[:400]}",
            )

    exercise()
    for body in HOSTILE_BODIES.get(label, []):
        check(
            operation.Case(
                body=body, media_type="application/json", path_parameters=path_parameters
            ),
            hostile=True,
        )
    for query in HOSTILE_QUERIES.get(label, []):
        check(operation.Case(query=query, path_parameters=path_parameters), hostile=True)

    if path := os.environ.get("FUZZ_FINDINGS"):
        with open(path, "a") as out:
            for name, example in sorted(found.items()):
                out.write(json.dumps([persona, label, name, example]) + "\n")
    known = KNOWN_FAILURES.get((persona, label), set())
    new = {name: example for name, example in found.items() if name not in known}
    assert not new, "new failures:\n" + "\n\n".join(f"{n}:\n{e}" for n, e in new.items())
    # Strict per operation: once none of its known classes shows, the entry must go. (Per
    # class would be flaky: a class the examples reach only sometimes may not show.)
    assert found or not known, f"fixed: remove KNOWN_FAILURES[{(persona, label)!r}]"
    # Crashes and cuts come from the fixed hostile inputs, so they show every time: strict per
    # class.
    strict = {name for name in known if name in CRASH or name.startswith((CUT, ACCEPTED))}
    assert not strict - set(found), f"fixed: remove {strict - set(found)} from {(persona, label)}"
    if known:
        pytest.xfail(f"known: {', '.join(sorted(found))}")

"""The authorization matrix, generated from the URL configuration.

Every route Django serves (pages, htmx endpoints, the API, streams, exports, chart images),
every method it accepts, as the owner, another user, staff and anonymous, with the path
filled with the owner's real objects:

- the owner and staff get an answer (never 401/403/404 and never a 5xx; staff may get 403
  for writes in another user's objects, such as posting in their chat, and 404 like anyone
  for what is the owner's alone, such as their API tokens: OWNER_ONLY);
- another user gets 404 for the owner's objects (never 200 or 403, which reveal that they
  exist, never a 5xx), and no page or API answer shows them the owner's objects' names;
- anonymous is sent to the sign-in page (pages) or gets 401/403 (API).

A route whose path parameters are not in PATH_VALUES fails with a message to add it, so a new
endpoint is in the matrix from its first commit. Every request runs in a savepoint that is
rolled back, so a DELETE or a run does not change what the next request sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from apps.accounts.models import ApiToken

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# Routes left out of the matrix, with the reason.
SKIPPED_PREFIXES = {
    "admin/": "the Django admin: staff only by its own rules, tested in tests/*/test_admin*.py",
    "static/": "static files are public by design",
}
# Routes anyone may use: the rules for anonymous and other users do not apply.
PUBLIC = {
    "home": "a redirect to the chat list, which asks for sign-in itself",
    "login": "the sign-in page",
    "logout": "signing out",
    "api:auth-token": "exchanging a password for a token",
    "api-schema": "the OpenAPI schema",
    "api-docs": "the Swagger UI page",
    "api:api-root": "DRF's index of the API's list URLs",
    "favicon": "the site icon, for browsers that ask for /favicon.ico",
}

# Routes where only staff write (operators configure agents; users read them): a user's write
# is a 403, for the owner as for anyone.
STAFF_WRITES = {"api:agent-list", "api:agent-detail"}
# Acting in a chat is its owner's alone, staff included: the stream starts the question's turn
# when it has none, like posting and retrying; renaming, deleting and stopping a reply too.
OWNER_ACTIONS = {
    "llm_chat:message_stream",
    "llm_chat:chat_rename",
    "llm_chat:chat_delete",
    "llm_chat:message_stop",
}
# A user's own things that staff do not reach through the site either: a 404 for staff as for
# another user (operators manage them in the admin).
OWNER_ONLY = {"accounts:token_revoke"}

# url name -> the path parameters, filled from the owner's world. Chat and artifact objects are
# the owner's own: another user must get 404 for any route that names one.
PATH_VALUES: dict[str, Callable[[object], dict[str, object]]] = {
    "llm_chat:chat_detail": lambda w: {"pk": w.chat.pk},
    "llm_chat:message_create": lambda w: {"pk": w.chat.pk},
    "llm_chat:message_stream": lambda w: {"pk": w.chat.pk, "message_pk": w.question.pk},
    "llm_chat:message_reply": lambda w: {"pk": w.chat.pk, "message_pk": w.question.pk},
    "llm_chat:message_stop": lambda w: {"pk": w.chat.pk, "message_pk": w.reply.pk},
    "llm_chat:chat_rename": lambda w: {"pk": w.chat.pk},
    "llm_chat:chat_delete": lambda w: {"pk": w.chat.pk},
    "llm_artifact:artifact_detail": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_edit": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_confirm_delete": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_delete": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_run": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_card_run": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_chart": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_export": lambda w: {"pk": w.artifact.pk, "export_format": "csv"},
    "datasources:data_source_detail": lambda w: {"name": w.data_source},
    "api:agent-detail": lambda w: {"pk": w.agent.pk},
    "api:chat-detail": lambda w: {"pk": w.chat.pk},
    "api:chat-messages": lambda w: {"pk": w.chat.pk},
    "api:chat-retry": lambda w: {"pk": w.chat.pk, "message_id": w.question.pk},
    "api:artifact-detail": lambda w: {"pk": w.artifact.pk},
    "api:artifact-chart": lambda w: {"pk": w.artifact.pk},
    "api:artifact-execute": lambda w: {"pk": w.artifact.pk},
    "api:artifact-export": lambda w: {"pk": w.artifact.pk},
    "api:artifact-runs": lambda w: {"pk": w.artifact.pk},
    "api:artifact-verify": lambda w: {"pk": w.artifact.pk},
    "api:artifact-unverify": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_tags": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_verify": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_unverify": lambda w: {"pk": w.artifact.pk},
    "api:data-source-schema": lambda w: {"name": w.data_source},
    "accounts:token_revoke": lambda w: {
        "digest": ApiToken.objects.owned_by(w.chat.owner).latest("created").digest
    },
}
# The file type of the routes with a format suffix (`/api/artifacts/1/chart.png`), the only
# ones config/api_router.py gives one.
FORMAT_SUFFIX = {"api:artifact-chart": "png", "api:artifact-export": "csv"}

# route -> the failure class it shows today: the one list to shrink. A listed route that shows
# no problem fails (the fix landed: delete the line); an unlisted one that shows any fails.
KNOWN_FAILURES: dict[str, str] = {}


def _walk(patterns, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        else:
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield prefix + str(pattern.pattern), name or "", pattern


def _routes() -> list[tuple[str, str, tuple[str, ...]]]:
    routes = []
    for route, name, pattern in _walk(get_resolver().url_patterns):
        if route.startswith(tuple(SKIPPED_PREFIXES)):
            continue
        routes.append((route, name, tuple(pattern.pattern.regex.groupindex)))
    return routes


ROUTES = _routes()


def _url(route: str, name: str, parameters: tuple[str, ...], world) -> str:
    from django.urls import reverse

    needed = set(parameters) - {"format"}
    if needed and name not in PATH_VALUES:
        pytest.fail(
            f"The route {route!r} ({name or 'unnamed'}) takes {sorted(needed)}: add it to "
            "PATH_VALUES in tests/test_authz_matrix.py so the authorization matrix covers it."
        )
    kwargs = PATH_VALUES[name](world) if needed else {}
    if "format" in parameters:
        kwargs["format"] = FORMAT_SUFFIX[name]
    return reverse(name, kwargs=kwargs)


def _request(client: Client, method: str, url: str, *, htmx: bool = False):
    """One request in a savepoint that is rolled back: every request sees the same world."""
    headers = {"HX-Request": "true"} if htmx else {}
    with transaction.atomic():
        response = getattr(client, method.lower())(
            url, HTTP_ACCEPT="text/html,*/*;q=0.8", headers=headers
        )
        if getattr(response, "streaming", False):
            # Only the status matters; the body of a stream is not read.
            response.close()
        transaction.set_rollback(True)
    return response


def _content(response) -> str:
    if getattr(response, "streaming", False):
        return ""
    return response.content.decode(errors="replace")


@pytest.fixture
def world(owner_world, keep_db_connection_open):
    return owner_world


@pytest.mark.parametrize(("route", "name", "parameters"), ROUTES, ids=[r[0] for r in ROUTES])
def test_every_route_keeps_the_owners_objects_to_the_owner(
    route, name, parameters, world, owner, other_user, staff
):
    url = _url(route, name, parameters, world)
    is_api = route.startswith("api/")
    names_private_object = (
        name in PATH_VALUES
        and any(key in {"pk", "message_pk", "message_id", "digest"} for key in parameters)
        and not name.startswith(("api:agent-", "datasources:", "api:data-source"))
    )
    # Plain words (no quotes or ampersands) so HTML escaping cannot hide them.
    owner_strings = (world.chat.title, world.artifact.title)
    assert all(title.replace(" ", "").isalnum() for title in owner_strings)
    clients = {}
    for persona, user in (("owner", owner), ("other", other_user), ("staff", staff)):
        clients[persona] = Client(raise_request_exception=False)
        clients[persona].force_login(user)
    clients["anonymous"] = Client(raise_request_exception=False)

    problems: dict[tuple[str, str], str] = {}
    for method in METHODS:
        answers = {persona: _request(client, method, url) for persona, client in clients.items()}
        if method == "GET":
            # Pages answer htmx requests with a partial: it must keep the same rule.
            answers["other (htmx)"] = _request(clients["other"], method, url, htmx=True)
        if answers["owner"].status_code == 405 and answers["staff"].status_code == 405:
            # Nobody may use this method; still, no one may crash it.
            for persona, response in answers.items():
                if response.status_code >= 500:
                    problems[method, persona] = f"server error {response.status_code}"
            continue
        for persona, response in answers.items():
            status = response.status_code
            role = persona.split()[0]
            if role == "staff" and name in OWNER_ONLY:
                role = "other"
            problem = ""
            if status >= 500:
                problem = f"server error {status}"
            elif name in PUBLIC:
                pass
            elif name in STAFF_WRITES and method != "GET" and role in {"owner", "other"}:
                if status != 403:
                    problem = f"{persona} got {status}, not 403 for a staff-only write"
            elif role == "owner" or (
                role == "staff" and method == "GET" and name not in OWNER_ACTIONS
            ):
                if status in {401, 403, 404}:
                    problem = f"{persona} refused: {status}"
            elif role == "staff":
                # Staff see everything; acting in another's chat may be the owner's alone.
                if status in {401, 404}:
                    problem = f"staff refused: {status}"
            elif role == "other":
                if names_private_object and status != 404:
                    problem = f"another user got {status}, not 404"
                elif any(text in _content(response) for text in owner_strings):
                    problem = "another user sees the owner's objects' names"
            elif is_api:
                if status not in {401, 403}:
                    problem = f"anonymous got {status}, not 401/403"
            elif not (
                status == 302
                and response["Location"].startswith(resolve_url(django_settings.LOGIN_URL))
            ):
                problem = f"anonymous got {status}, not a redirect to sign-in"
            if problem:
                problems[method, persona] = problem

    summary = f"{url}: " + "; ".join(f"{m} as {p}: {why}" for (m, p), why in problems.items())
    known = KNOWN_FAILURES.get(route)
    assert not problems or known, summary
    assert problems or not known, f"fixed: remove KNOWN_FAILURES[{route!r}]"
    if known:
        pytest.xfail(f"{known}. {summary}")


def test_a_route_the_matrix_cannot_fill_fails_with_what_to_add():
    with pytest.raises(pytest.fail.Exception, match="add it to PATH_VALUES"):
        _url("reports/<int:pk>/", "reports:report_detail", ("pk",), world=None)


def test_the_matrix_walks_every_app_and_the_api():
    names = {name for _, name, _ in ROUTES}

    assert {"llm_chat:message_stream", "llm_artifact:artifact_export", "api:artifact-chart"} <= (
        names
    )
    assert not [route for route, _, _ in ROUTES if route.startswith("admin/")]

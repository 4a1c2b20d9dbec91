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

A second walk (test_every_route_answers_each_persona_by_the_sharing_rules, at the end) shares
the owner's artifact and chat with groups and asks as the sharing personas too: a group viewer,
a group editor, a member of another group and a user without the artifact's data source, each
route's methods held to the rule SHARING_RULES names for them; a route missing there fails.
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
    "accounts:set_language": "the language switcher, which visitors on the sign-in page use too",
    "javascript-catalog": "the translations of our scripts, the same for everyone",
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
OWNER_ONLY = {
    "accounts:token_revoke",
    "notifications:notification_open",
    "notifications:notification_read",
    "api:notification-detail",
    "api:notification-read",
}

# url name -> the path parameters, filled from the owner's world. Chat and artifact objects are
# the owner's own: another user must get 404 for any route that names one.
PATH_VALUES: dict[str, Callable[[object], dict[str, object]]] = {
    "javascript-catalog": lambda w: {"language": "ru"},
    "llm_chat:chat_detail": lambda w: {"pk": w.chat.pk},
    "llm_chat:message_create": lambda w: {"pk": w.chat.pk},
    "llm_chat:message_stream": lambda w: {"pk": w.chat.pk, "message_pk": w.question.pk},
    "llm_chat:message_reply": lambda w: {"pk": w.chat.pk, "message_pk": w.question.pk},
    "llm_chat:message_stop": lambda w: {"pk": w.chat.pk, "message_pk": w.reply.pk},
    "llm_chat:chat_rename": lambda w: {"pk": w.chat.pk},
    "llm_chat:chat_delete": lambda w: {"pk": w.chat.pk},
    "llm_chat:chat_share": lambda w: {"pk": w.chat.pk},
    "llm_artifact:artifact_detail": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_edit": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_confirm_delete": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_delete": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_share": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_run": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_card_run": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_chart": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_export": lambda w: {"pk": w.artifact.pk, "export_format": "csv"},
    "llm_artifact:artifact_workbench": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_duplicate": lambda w: {"pk": w.artifact.pk},
    "llm_chat:chat_about_artifact": lambda w: {"pk": w.artifact.pk},
    # A template of the owner's (an ordinary artifact is no template: 404 for everyone).
    "llm_artifact:template_use": lambda w: {"pk": _template(w).pk},
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
    "api:artifact-transfer": lambda w: {"pk": w.artifact.pk},
    "api:chat-transfer": lambda w: {"pk": w.chat.pk},
    "api:artifact-instantiate": lambda w: {"pk": _template(w).pk},
    "api:artifact-verify": lambda w: {"pk": w.artifact.pk},
    "api:artifact-unverify": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_tags": lambda w: {"pk": w.artifact.pk},
    # A report of the owner's that shows their artifact, shared like it.
    "llm_artifact:report_edit": lambda w: {"pk": _report(w).pk},
    "llm_artifact:report_rerun": lambda w: {"pk": _report(w).pk},
    "llm_artifact:report_export": lambda w: {"pk": _report(w).pk, "export_format": "html"},
    "llm_artifact:artifact_verify": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_unverify": lambda w: {"pk": w.artifact.pk},
    "api:data-source-schema": lambda w: {"name": w.data_source},
    # Schedules: the owner's schedule of their artifact, its alert and their subscription.
    "schedules:artifact_schedules": lambda w: {"pk": w.artifact.pk},
    "schedules:schedule_create": lambda w: {"pk": w.artifact.pk},
    **{
        f"schedules:schedule_{action}": lambda w: {"pk": _schedule(w).pk}
        for action in ("edit", "pause", "resume", "run", "delete")
    },
    "schedules:alert_create": lambda w: {"pk": _schedule(w).pk},
    "schedules:alert_delete": lambda w: {"pk": _schedule(w).alerts.get().pk},
    "schedules:subscription_create": lambda w: {"pk": _schedule(w).alerts.get().pk},
    "schedules:subscription_delete": lambda w: {"pk": _subscription(w).pk},
    **{
        f"api:schedule-{action}": lambda w: {"pk": _schedule(w).pk}
        for action in ("detail", "pause", "resume", "run")
    },
    "api:alert-detail": lambda w: {"pk": _schedule(w).alerts.get().pk},
    "api:subscription-detail": lambda w: {"pk": _subscription(w).pk},
    # A dashboard of the owner's, shared like their artifact, with a tile of it.
    "llm_artifact:dashboard_tile": lambda w: {"pk": _dashboard(w).pk, "tile_id": "t1"},
    "llm_artifact:dashboard_tile_add": lambda w: {"pk": _dashboard(w).pk},
    "llm_artifact:dashboard_tile_change": lambda w: {
        "pk": _dashboard(w).pk,
        "tile_id": "t1",
        "verb": "wider",
    },
    "llm_artifact:dashboard_order": lambda w: {"pk": _dashboard(w).pk},
    "llm_artifact:dashboard_filter_add": lambda w: {"pk": _dashboard(w).pk},
    "llm_artifact:dashboard_filter_remove": lambda w: {"pk": _dashboard(w).pk, "name": "period"},
    # Background runs and exports: the artifact's, and one finished export of the owner's.
    "llm_artifact:artifact_background": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_jobs": lambda w: {"pk": w.artifact.pk},
    "llm_artifact:artifact_job": lambda w: _job(w),
    "llm_artifact:artifact_job_cancel": lambda w: _job(w),
    "llm_artifact:artifact_job_download": lambda w: _job(w),
    "api:artifact-jobs": lambda w: {"pk": w.artifact.pk},
    "api:artifact-job-detail": lambda w: {"pk": _job(w)["job_id"]},
    "api:artifact-job-cancel": lambda w: {"pk": _job(w)["job_id"]},
    "api:artifact-job-download": lambda w: {"pk": _job(w)["job_id"]},
    "accounts:token_revoke": lambda w: {
        "digest": ApiToken.objects.owned_by(w.chat.owner).latest("created").digest
    },
    "notifications:notification_open": lambda w: {"pk": _notification(w).pk},
    "notifications:notification_read": lambda w: {"pk": _notification(w).pk},
    "api:notification-detail": lambda w: {"pk": _notification(w).pk},
    "api:notification-read": lambda w: {"pk": _notification(w).pk},
}


def _notification(world):
    from apps.notifications.models import Notification

    return Notification.objects.get_or_create(
        user=world.chat.owner,
        key="matrix",
        defaults={"title": "Cancelled orders above 10", "url": f"/chats/{world.chat.pk}/"},
    )[0]


def _job(world) -> dict:
    """The owner's export of their artifact, written (jobs run at once in tests)."""
    from apps.llm_artifact.background import start_background_export

    if not hasattr(world, "export_job"):
        owner = world.artifact.owner
        record = start_background_export(
            world.artifact, user=owner, raw_params={}, export_format="csv"
        )
        assert record.file_name, record.job.error
        world.export_job = record
    return {"pk": world.artifact.pk, "job_id": world.export_job.job_id}


def _template(world):
    from apps.llm_artifact.models import ArtifactShare
    from tests.llm_artifact.factories import template_for

    template = template_for(world.artifact.owner, title="Owner template zq3")
    # Shared exactly like the owner's artifact, so every persona meets the same rule on both.
    template.visibility = world.artifact.visibility
    template.save(update_fields=["visibility"])
    for share in world.artifact.shares.all():
        ArtifactShare.objects.get_or_create(
            artifact=template, group=share.group, defaults={"can_edit": share.can_edit}
        )
    return template


def _schedule(world):
    """The owner's schedule of their artifact, with an alert they are subscribed to in-app."""
    from apps.schedules.models import Alert, Schedule, Subscription

    artifact = world.artifact
    schedule, _ = Schedule.objects.get_or_create(
        artifact=artifact, owner=artifact.owner, defaults={"kind": "minutes", "every_minutes": 5}
    )
    alert, _ = Alert.objects.get_or_create(
        schedule=schedule, owner=artifact.owner, defaults={"name": "Rows", "condition": "has_rows"}
    )
    Subscription.objects.get_or_create(alert=alert, user=artifact.owner, channel="in_app")
    return schedule


def _subscription(world):
    return _schedule(world).alerts.get().subscriptions.get()


def _dashboard(world):
    from apps.llm_artifact.models import Artifact
    from tests.llm_artifact.factories import dashboard_for

    owner = world.artifact.owner
    existing = Artifact.objects.filter(owner=owner, artifact_type="dashboard").first()
    if existing is not None:
        return existing
    dashboard = dashboard_for(
        owner, [world.artifact], title="Owner dashboard zq4", data_source=world.artifact.data_source
    )
    _share_like_the_artifact(world, dashboard)
    return dashboard


def _share_like_the_artifact(world, row) -> None:
    from apps.llm_artifact.models import ArtifactShare

    row.visibility = world.artifact.visibility
    row.save(update_fields=["visibility"])
    for share in world.artifact.shares.all():
        ArtifactShare.objects.get_or_create(
            artifact=row, group=share.group, defaults={"can_edit": share.can_edit}
        )


def _report(world):
    from apps.llm_artifact.models import Artifact, ArtifactShare

    report, created = Artifact.objects.get_or_create(
        owner=world.artifact.owner,
        title="Owner report zq3",
        defaults={
            "artifact_type": "report",
            "data_source": world.artifact.data_source,
            "visibility": world.artifact.visibility,
            "document": {"markdown": f"```artifact {world.artifact.pk}\n```"},
        },
    )
    if created:
        for share in world.artifact.shares.all():
            ArtifactShare.objects.create(
                artifact=report, group=share.group, can_edit=share.can_edit
            )
    return report


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
def world(owner_world, keep_db_connection_open, settings, tmp_path):
    settings.EXPORT_FILES_DIR = tmp_path / "exports"
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
    # The bundle routes (no path parameters, so nothing in PATH_VALUES): export checks each
    # id it is given, import owns what it creates; both are walked like every route.
    assert {
        "llm_artifact:artifact_bundle_export",
        "llm_artifact:artifact_import",
        "api:artifact-export-bundle",
        "api:artifact-import-bundle",
    } <= names
    assert not [route for route, _, _ in ROUTES if route.startswith("admin/")]


# --- The sharing personas ----------------------------------------------------------------------
# The same walk of the URL configuration, with the owner's artifact shared with groups: every
# route and method as the owner, a group viewer, a group editor, a member of another group, a
# user the artifact is shared with who may not use its data source, staff and anonymous. Each
# route says which rule each of its methods follows (SHARING_RULES); a route missing from it
# fails, so a new route is in the matrix from its first commit.

OK, HIDDEN, REFUSED, SIGN_IN, OK_OR_REFUSED = "ok", "404", "403", "sign-in", "ok or 403"
ANY = "any answer but a server error"
PERSONAS = (
    "owner",
    "group_viewer",
    "group_editor",
    "outsider",
    "no_source_user",
    "staff",
    "anonymous",
)
# rule -> the answer of each persona, in PERSONAS' order (the issue's model: viewers see, run,
# export and chart; editors also change; only the owner and staff delete, share and transfer;
# hidden answers exactly like missing, 404; anonymous goes to sign-in).
EXPECTED: dict[str, tuple[str, ...]] = {
    "public": (ANY,) * 7,
    # Lists and forms of no one object: every signed-in user (and no hidden names in them).
    "signed_in": (OK, OK, OK, OK, OK, OK, SIGN_IN),
    "artifact.view": (OK, OK, OK, HIDDEN, HIDDEN, OK, SIGN_IN),
    "artifact.change": (OK, REFUSED, OK, HIDDEN, HIDDEN, OK, SIGN_IN),
    "artifact.manage": (OK, REFUSED, REFUSED, HIDDEN, HIDDEN, OK, SIGN_IN),
    # Chats are shared read-only; acting in one is its owner's (staff may be refused too).
    "chat.view": (OK, OK, OK, HIDDEN, HIDDEN, OK, SIGN_IN),
    "chat.owner": (OK, REFUSED, REFUSED, HIDDEN, HIDDEN, OK_OR_REFUSED, SIGN_IN),
    # The data source (granted to every group but the contractors) and the agent working on it.
    "source.use": (OK, OK, OK, OK, HIDDEN, OK, SIGN_IN),
    # Operators configure agents: a user's write is refused.
    "staff.write": (REFUSED, REFUSED, REFUSED, REFUSED, REFUSED, OK, SIGN_IN),
    # A user's own API tokens: nobody else's, staff included.
    "owner.only": (OK, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, SIGN_IN),
    # Someone's subscription to an alert: theirs, and the artifact's editors' (staff too);
    # hidden from other viewers, who see only their own.
    "subscription.own": (OK, HIDDEN, OK, HIDDEN, HIDDEN, OK, SIGN_IN),
    # A background run or export: who asked for it, and staff.
    "job.requester": (OK, HIDDEN, HIDDEN, HIDDEN, HIDDEN, OK, SIGN_IN),
}
VIEW = {"*": "artifact.view"}
SHARING_RULES: dict[str, dict[str, str]] = {
    **{name: {"*": "public"} for name in PUBLIC},
    "accounts:token_list": {"*": "signed_in"},
    "accounts:profile": {"*": "signed_in"},
    "accounts:token_revoke": {"*": "owner.only"},
    "llm_chat:chat_list": {"*": "signed_in"},
    "llm_chat:chat_new": {"*": "signed_in"},
    "llm_chat:chat_create": {"*": "signed_in"},
    "llm_chat:chat_detail": {"*": "chat.view"},
    "llm_chat:chat_rename": {"*": "chat.owner"},
    "llm_chat:chat_delete": {"*": "chat.owner"},
    # The Share dialog: the owner, and staff (who can do as much in the admin).
    "llm_chat:chat_share": {"*": "chat.owner"},
    "llm_chat:message_create": {"*": "chat.owner"},
    # The stream starts the question's turn when it has none: the owner's alone.
    "llm_chat:message_stream": {"*": "chat.owner"},
    "llm_chat:message_reply": {"*": "chat.owner"},
    "llm_chat:message_stop": {"*": "chat.owner"},
    "llm_artifact:artifact_list": {"*": "signed_in"},
    "llm_artifact:artifact_chat_options": {"*": "signed_in"},
    "llm_artifact:artifact_detail": VIEW,
    "llm_artifact:artifact_edit": {"*": "artifact.change"},
    "llm_artifact:artifact_confirm_delete": {"*": "artifact.manage"},
    "llm_artifact:artifact_delete": {"*": "artifact.manage"},
    "llm_artifact:artifact_share": {"*": "artifact.manage"},
    "llm_artifact:artifact_run": VIEW,
    "llm_artifact:artifact_card_run": VIEW,
    # The chart editor saves the chart (the matrix posts no action: "save").
    "llm_artifact:artifact_chart": {"*": "artifact.change"},
    "llm_artifact:artifact_export": VIEW,
    # The workbench: writing a new artifact is anyone's; its SQL and parameters are for those
    # who may change it; a private copy, and a chat about it, for anyone who may see it.
    "llm_artifact:artifact_new": {"*": "signed_in"},
    "llm_artifact:artifact_workbench": {"*": "artifact.change"},
    "llm_artifact:artifact_duplicate": VIEW,
    "llm_chat:chat_about_artifact": VIEW,
    # Anyone who may see a template may use it (a new artifact of their own).
    "llm_artifact:template_use": VIEW,
    "datasources:data_source_list": {"*": "signed_in"},
    "datasources:data_source_detail": {"*": "source.use"},
    "api:agent-list": {"GET": "signed_in", "*": "staff.write"},
    "api:agent-detail": {"GET": "source.use", "*": "staff.write"},
    "api:chat-list": {"*": "signed_in"},
    "api:chat-detail": {"GET": "chat.view", "*": "chat.owner"},
    "api:chat-messages": {"GET": "chat.view", "*": "chat.owner"},
    "api:chat-retry": {"*": "chat.owner"},
    "api:artifact-list": {"*": "signed_in"},
    "api:artifact-detail": {
        "GET": "artifact.view",
        "PUT": "artifact.change",
        "PATCH": "artifact.change",
        "DELETE": "artifact.manage",
        "*": "artifact.view",  # POST: not allowed on one artifact (405)
    },
    "api:artifact-chart": VIEW,
    "api:artifact-execute": VIEW,
    "api:artifact-export": VIEW,
    "api:artifact-runs": VIEW,
    "api:artifact-instantiate": VIEW,
    # A dashboard: its tiles load for anyone who may see it (each tile's artifact is asked
    # again, tests/llm_artifact/test_dashboard_pages.py); arranging it is an edit.
    "llm_artifact:dashboard_tile": VIEW,
    "llm_artifact:dashboard_tile_add": {"*": "artifact.change"},
    "llm_artifact:dashboard_tile_change": {"*": "artifact.change"},
    "llm_artifact:dashboard_order": {"*": "artifact.change"},
    "llm_artifact:dashboard_filter_add": {"*": "artifact.change"},
    "llm_artifact:dashboard_filter_remove": {"*": "artifact.change"},
    "api:data-source-list": {"*": "signed_in"},
    "api:data-source-schema": {"*": "source.use"},
    "api:sql-validate": {"*": "signed_in"},
    # The editor's help on unsaved SQL: any signed-in user, on the sources they may use (a
    # source they may not use is refused like an unknown one, tested in tests/datasources).
    "api:sql-format": {"*": "signed_in"},
    "api:group-list": {"*": "signed_in"},
    # The library: a page and tags of what the user may see; tagging and vouching are edits.
    "library": {"*": "signed_in"},
    "api:tag-list": {"*": "signed_in"},
    "llm_artifact:artifact_tags": {"*": "artifact.change"},
    "llm_artifact:artifact_verify": {"*": "artifact.change"},
    "llm_artifact:artifact_unverify": {"*": "artifact.change"},
    # Reports: writing one is anyone's; its text is for those who may change it; Re-run
    # (runs what the reader may see, as them) and the exports for anyone who may see it.
    "llm_artifact:report_new": {"*": "signed_in"},
    "llm_artifact:report_edit": {"*": "artifact.change"},
    "llm_artifact:report_rerun": VIEW,
    "llm_artifact:report_export": VIEW,
    "api:artifact-verify": {"*": "artifact.change"},
    "api:artifact-unverify": {"*": "artifact.change"},
    # Bundles: an export holds only what the user may see, an import creates their own rows.
    "llm_artifact:artifact_bundle_export": {"*": "signed_in"},
    "llm_artifact:artifact_import": {"*": "signed_in"},
    "api:artifact-export-bundle": {"*": "signed_in"},
    "api:artifact-import-bundle": {"*": "signed_in"},
    "api:artifact-transfer": {"*": "artifact.manage"},
    # Handing a chat over: its owner, and staff (OK_OR_REFUSED allows either).
    "api:chat-transfer": {"*": "chat.owner"},
    "api:sql-preview-run": {"*": "signed_in"},
    # Schedules and alerts: viewers see them and subscribe themselves; editors change them.
    "schedules:artifact_schedules": VIEW,
    "schedules:schedule_create": {"*": "artifact.change"},
    "schedules:schedule_edit": {"*": "artifact.change"},
    "schedules:schedule_pause": {"*": "artifact.change"},
    "schedules:schedule_resume": {"*": "artifact.change"},
    "schedules:schedule_run": {"*": "artifact.change"},
    "schedules:schedule_delete": {"*": "artifact.change"},
    "schedules:alert_create": {"*": "artifact.change"},
    "schedules:alert_delete": {"*": "artifact.change"},
    "schedules:subscription_create": VIEW,
    "schedules:subscription_delete": {"*": "subscription.own"},
    "api:schedule-list": {"*": "signed_in"},
    "api:schedule-detail": {
        "PUT": "artifact.change",
        "PATCH": "artifact.change",
        "DELETE": "artifact.change",
        "*": "artifact.view",
    },
    "api:schedule-pause": {"*": "artifact.change"},
    "api:schedule-resume": {"*": "artifact.change"},
    "api:schedule-run": {"*": "artifact.change"},
    "api:alert-list": {"*": "signed_in"},
    "api:alert-detail": {
        "PUT": "artifact.change",
        "PATCH": "artifact.change",
        "DELETE": "artifact.change",
        "*": "artifact.view",
    },
    "api:subscription-list": {"*": "signed_in"},
    "api:subscription-detail": {"*": "subscription.own"},
    # Notifications: each user's own, staff included (operators read them in the admin).
    "notifications:notification_list": {"*": "signed_in"},
    "notifications:notification_read_all": {"*": "signed_in"},
    "notifications:notification_open": {"*": "owner.only"},
    "notifications:notification_read": {"*": "owner.only"},
    "api:notification-list": {"*": "signed_in"},
    "api:notification-read-all": {"*": "signed_in"},
    "api:notification-detail": {"*": "owner.only"},
    "api:notification-read": {"*": "owner.only"},
    # Background runs and exports: anyone who may run the artifact starts their own and
    # lists their own; one job (its page, cancel, file) is its requester's and staff's.
    "llm_artifact:artifact_background": VIEW,
    "llm_artifact:artifact_jobs": VIEW,
    "api:artifact-jobs": VIEW,
    "api:artifact-job-list": {"*": "signed_in"},
    "llm_artifact:artifact_job": {"*": "job.requester"},
    "llm_artifact:artifact_job_cancel": {"*": "job.requester"},
    "llm_artifact:artifact_job_download": {"*": "job.requester"},
    "api:artifact-job-detail": {"*": "job.requester"},
    "api:artifact-job-cancel": {"*": "job.requester"},
    "api:artifact-job-download": {"*": "job.requester"},
}

# Routes whose answers wait for work on other branches: (url name, branch). The lead empties
# this list as those branches merge; a listed route that already answers by the rules passes
# (xfail is not strict), an unlisted one that does not fails.
UNTIL_MERGED: list[tuple[str, str]] = [
    # Pages: a viewer's edit and chart save, an editor's or viewer's delete -> 403.
]


def _rule(name: str, method: str) -> str:
    rules = SHARING_RULES.get(name)
    if rules is None:
        pytest.fail(
            f"The route {name!r} is not in SHARING_RULES (tests/test_authz_matrix.py): say "
            "which sharing rule each of its methods follows."
        )
    return rules.get(method) or rules["*"]


@pytest.fixture
def shared_world(world, owner, group_viewer, group_editor, outsider, no_source_user):
    """owner_world with the owner's artifact shared with the analysts (to view), the
    analyst-editors (to edit) and the contractors (to view), its chat with the analysts, and
    the data source granted to every group but the contractors."""
    from django.contrib.auth.models import Group

    from apps.accounts.sharing import Visibility, change_sharing
    from apps.datasources.models import DataSourceGrant, DataSourcePolicy

    groups = {
        name: Group.objects.get_or_create(name=name)[0]
        for name in ("owners", "analysts", "analyst-editors", "support", "contractors")
    }
    owner.groups.add(groups["owners"])
    policy = DataSourcePolicy.objects.create(source=world.data_source)
    for name in ("owners", "analysts", "analyst-editors", "support"):
        DataSourceGrant.objects.create(policy=policy, group=groups[name])
    change_sharing(
        world.artifact,
        actor=owner,
        visibility=Visibility.GROUPS,
        shares={
            groups["analysts"]: False,
            groups["analyst-editors"]: True,
            groups["contractors"]: False,
        },
    )
    change_sharing(
        world.chat,
        actor=owner,
        visibility=Visibility.GROUPS,
        shares={groups["analysts"]: False},
    )
    return world


def _answers_by_rule(rule: str, persona: str, response, *, is_api: bool) -> str:
    """What is wrong with `response` for `persona` under `rule` ("" if nothing)."""
    status = response.status_code
    if status >= 500:
        return f"server error {status}"
    expected = EXPECTED[rule][PERSONAS.index(persona)]
    if expected == SIGN_IN:
        if is_api:
            return "" if status in {401, 403} else f"got {status}, not 401/403"
        signs_in = status == 302 and response["Location"].startswith(
            resolve_url(django_settings.LOGIN_URL)
        )
        return "" if signs_in else f"got {status}, not a redirect to sign-in"
    if expected == HIDDEN:
        return "" if status == 404 else f"got {status}, not 404 (as if missing)"
    if expected == REFUSED:
        return "" if status == 403 else f"got {status}, not 403"
    if expected == OK_OR_REFUSED:
        return "" if status not in {401, 404} else f"refused: {status}"
    if expected == ANY:
        return ""
    if expected == OK and status in {401, 403, 404}:
        return f"refused: {status}"
    return ""


def _shows(response, strings) -> bool:
    return any(text in _content(response) for text in strings)


def _sharing_params():
    pending = dict(UNTIL_MERGED)
    for route, name, parameters in ROUTES:
        marks = []
        if name in pending:
            marks = [pytest.mark.xfail(strict=False, reason=f"until {pending[name]} merges")]
        yield pytest.param(route, name, parameters, marks=marks, id=route)


@pytest.mark.parametrize(("route", "name", "parameters"), list(_sharing_params()))
def test_every_route_answers_each_persona_by_the_sharing_rules(
    route, name, parameters, shared_world, request
):
    world = shared_world
    url = _url(route, name, parameters, world)
    is_api = route.startswith("api/")
    owner_strings = (world.chat.title, world.artifact.title)
    clients = {}
    for persona in PERSONAS[:-1]:
        clients[persona] = Client(raise_request_exception=False)
        clients[persona].force_login(request.getfixturevalue(persona))
    clients["anonymous"] = Client(raise_request_exception=False)

    problems: dict[tuple[str, str], str] = {}
    for method in METHODS:
        rule = _rule(name, method)
        answers = {persona: _request(clients[persona], method, url) for persona in PERSONAS[:1]}
        if answers["owner"].status_code == 405:
            # Nobody may use this method (the first matrix asks everyone): one answer is enough.
            continue
        answers |= {persona: _request(clients[persona], method, url) for persona in PERSONAS[1:]}
        for persona, response in answers.items():
            problem = _answers_by_rule(rule, persona, response, is_api=is_api)
            hidden_from = {"outsider", "no_source_user"}
            if not problem and persona in hidden_from and _shows(response, owner_strings):
                problem = "sees the owner's objects' names"
            if problem:
                problems[method, persona] = f"({rule}) {problem}"

    summary = f"{url}: " + "; ".join(f"{m} as {p}: {why}" for (m, p), why in problems.items())
    assert not problems, summary


def test_every_route_has_a_sharing_rule_for_each_method():
    missing = [name for _, name, _ in ROUTES if name not in SHARING_RULES]
    assert not missing, f"add these routes to SHARING_RULES: {missing}"
    for rules in SHARING_RULES.values():
        assert set(rules.values()) <= set(EXPECTED)
        assert "*" in rules or set(rules) >= set(METHODS)


def test_a_route_without_a_sharing_rule_fails_with_what_to_add():
    with pytest.raises(pytest.fail.Exception, match="not in SHARING_RULES"):
        _rule("reports:report_detail", "GET")

"""A data source whose set-up is broken (server down, wrong password, no such role or
database, missing file): users get plain words and a reference through every face; the
host, port, role and file are for staff (admin, staff views) and the log."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from psycopg import sql as pgsql

from apps.datasources.errors import mask_secrets
from apps.datasources.executor import QueryFailed, execute
from apps.datasources.schema import clear_schema_cache
from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_chat.agent import run_turn_sync
from apps.llm_chat.models import Message
from apps.llm_chat.services import post_user_message
from tests.fakes.pg_auth import password_refusing_server
from tests.fakes.scripted import Call, Say, ScriptedModel, tool_text
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory
from tests.postgres import url_for

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
PUBLIC = re.compile(
    r"The data source 'marketplace' is not reachable right now\. Reference: ([0-9A-F]{6})\. "
    r"Ask an operator if this keeps happening\."
)
SQL = "SELECT status, COUNT(*) AS orders FROM orders GROUP BY status"
SPEC = {
    "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
    "data": {"name": "results"},
    "mark": "bar",
    "encoding": {
        "x": {"field": "status", "type": "nominal"},
        "y": {"field": "orders", "type": "quantitative"},
    },
}


@dataclass
class Broken:
    url: str
    # What only operators may read: the host, the port, the role, the password, the file.
    secrets: list[str]
    # What staff see of the driver's text.
    staff_words: str


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(params=["server down", "wrong password", "missing file"])
def broken(request, settings, tmp_path) -> Iterator[Broken]:
    if request.param == "server down":
        port = closed_port()
        yield Broken(
            f"postgresql://shop_reader:hunter2secret@127.0.0.1:{port}/shop",
            ["127.0.0.1", str(port), "shop_reader", "hunter2secret"],
            "Connection refused",
        )
    elif request.param == "wrong password":
        with password_refusing_server() as port:
            yield Broken(
                f"postgresql://shop_reader:hunter2secret@127.0.0.1:{port}/shop",
                ["127.0.0.1", str(port), "shop_reader", "hunter2secret", "password auth"],
                'password authentication failed for user "shop_reader"',
            )
    else:
        path = tmp_path / "vanished" / "marketplace.sqlite3"
        yield Broken(f"sqlite:///{path}", [str(tmp_path), "vanished"], "SQLITE_CANTOPEN")


@pytest.fixture(autouse=True)
def use_broken_source(broken, settings):
    settings.DATA_SOURCES = f"marketplace={broken.url}"
    settings.DEFAULT_DATA_SOURCE = "marketplace"
    clear_schema_cache()
    yield
    clear_schema_cache()


@pytest.fixture
def artifact(owner) -> Artifact:
    return ArtifactFactory(owner=owner, title="Orders by status", sql_query=SQL, status="active")


def assert_public_only(text: str, broken: Broken) -> str:
    """`text` tells the user in plain words with a reference, and nothing of the set-up."""
    match = PUBLIC.search(text.replace("&#x27;", "'"))
    assert match, text
    for secret in broken.secrets:
        assert secret not in text
    assert "Operator detail" not in text
    return match.group(1)


def assert_staff_detail(text: str, broken: Broken) -> None:
    assert broken.staff_words in text.replace("&quot;", '"'), text
    assert "hunter2secret" not in text  # never the password, not even to staff


# --- the executor and the log -----------------------------------------------------------------


def test_the_executor_separates_the_public_message_from_the_detail(broken, caplog):
    with pytest.raises(QueryFailed) as caught:
        execute("marketplace", SQL, timeout=2)
    reference = assert_public_only(caught.value.message, broken)
    assert caught.value.reference == reference
    assert caught.value.detail.startswith(f"Reference {reference}: ")
    assert_staff_detail(caught.value.detail, broken)
    # Operators grep the log for the reference the user quotes.
    (record,) = [r for r in caplog.records if reference in r.getMessage()]
    assert record.levelname == "ERROR"
    assert broken.staff_words in record.getMessage()
    assert "hunter2secret" not in record.getMessage()


# --- the API ----------------------------------------------------------------------------------


def test_owner_gets_plain_words_from_every_api_face(owner_api, artifact, broken):
    artifact.visualization_config = SPEC
    artifact.save(update_fields=["visualization_config"])
    execute_url = reverse("api:artifact-execute", args=[artifact.pk])
    response = owner_api.post(execute_url, {}, format="json")
    assert response.status_code == 400
    reference = assert_public_only(response.content.decode(), broken)

    response = owner_api.get(reverse("api:artifact-export", args=[artifact.pk]), {"format": "csv"})
    assert response.status_code == 400
    assert_public_only(response.content.decode(), broken)

    chart_url = reverse("api:artifact-chart", kwargs={"pk": artifact.pk, "format": "png"})
    response = owner_api.get(chart_url)
    assert response.status_code == 400
    assert_public_only(response.content.decode(), broken)

    body = owner_api.get(reverse("api:artifact-detail", args=[artifact.pk])).json()
    assert_public_only(body["last_error"], broken)
    assert body["last_error_detail"] is None
    runs = owner_api.get(reverse("api:artifact-runs", args=[artifact.pk])).json()["results"]
    assert [run["error_detail"] for run in runs] == [None, None, None]
    assert reference in runs[-1]["error"]

    response = owner_api.get(reverse("api:data-source-schema", args=["marketplace"]))
    assert response.status_code == 503
    assert_public_only(response.content.decode(), broken)


def test_the_sql_check_does_not_connect(owner_api, broken):
    response = owner_api.post(
        reverse("api:sql-validate"), {"sql": SQL, "data_source": "marketplace"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["valid"] is True


def test_staff_get_the_detail_through_the_api(staff_api, artifact, broken):
    response = staff_api.post(reverse("api:artifact-execute", args=[artifact.pk]), {}, "json")
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert PUBLIC.search(detail)
    assert_staff_detail(detail, broken)

    body = staff_api.get(reverse("api:artifact-detail", args=[artifact.pk])).json()
    assert_staff_detail(body["last_error_detail"], broken)
    (run,) = staff_api.get(reverse("api:artifact-runs", args=[artifact.pk])).json()["results"]
    assert_staff_detail(run["error_detail"], broken)

    response = staff_api.get(reverse("api:data-source-schema", args=["marketplace"]))
    assert response.status_code == 503
    assert_staff_detail(response.json()["detail"], broken)


# --- the pages --------------------------------------------------------------------------------


def test_owner_gets_plain_words_from_every_page(owner_client, owner, artifact, broken):
    run_url = reverse("llm_artifact:artifact_run", args=[artifact.pk])
    response = owner_client.post(run_url, headers=HTMX)
    assert response.status_code == 200
    assert_public_only(response.content.decode(), broken)

    response = owner_client.post(run_url, follow=True)
    assert response.status_code == 200
    assert_public_only(response.content.decode(), broken)

    chat = ChatFactory(owner=owner)
    artifact.chat = chat
    artifact.save(update_fields=["chat"])
    MessageFactory(
        chat=chat,
        role=Message.Role.ASSISTANT,
        artifact=artifact,
        artifact_action=Message.ArtifactAction.CREATED,
    )
    card_url = reverse("llm_artifact:artifact_card_run", args=[artifact.pk])
    response = owner_client.post(card_url, headers=HTMX)
    assert response.status_code == 200
    assert_public_only(response.content.decode(), broken)
    chat_page = owner_client.get(chat.get_absolute_url()).content.decode()
    assert not [secret for secret in broken.secrets if secret in chat_page]

    page = owner_client.get(artifact.get_absolute_url()).content.decode()
    assert_public_only(page, broken)
    assert "artifact-last-error-detail" not in page

    schema_url = reverse("datasources:data_source_detail", args=["marketplace"])
    for headers in ({}, HTMX):
        response = owner_client.get(schema_url, headers=headers)
        assert response.status_code == 503
        assert_public_only(response.content.decode(), broken)


def test_staff_see_the_detail_on_the_pages_and_in_the_admin(client, staff, artifact, broken):
    client.force_login(staff)
    run_url = reverse("llm_artifact:artifact_run", args=[artifact.pk])
    response = client.post(run_url, headers=HTMX)
    assert 'class="text-break small mt-1 run-error-detail"' in response.content.decode()
    assert_staff_detail(response.content.decode(), broken)

    page = client.get(artifact.get_absolute_url()).content.decode()
    assert 'id="artifact-last-error-detail"' in page
    assert_staff_detail(page, broken)

    run = ArtifactRun.objects.get()
    admin_run = client.get(reverse("admin:llm_artifact_artifactrun_change", args=[run.pk]))
    assert admin_run.status_code == 200
    assert_staff_detail(admin_run.content.decode(), broken)
    admin_artifact = client.get(reverse("admin:llm_artifact_artifact_change", args=[artifact.pk]))
    assert_staff_detail(admin_artifact.content.decode(), broken)
    # The reference the user quotes finds the run in the admin's run log.
    reference = PUBLIC.search(run.error).group(1)
    found = client.get(reverse("admin:llm_artifact_artifactrun_changelist"), {"q": reference})
    assert f"/{run.pk}/change/" in found.content.decode()

    schema_url = reverse("datasources:data_source_detail", args=["marketplace"])
    assert_staff_detail(client.get(schema_url).content.decode(), broken)


def test_the_run_command_tells_operators_the_detail(artifact, broken):
    with pytest.raises(CommandError) as caught:
        call_command("run_artifact", artifact.pk)
    assert PUBLIC.search(str(caught.value))
    assert_staff_detail(str(caught.value), broken)


# --- the agent's tools ------------------------------------------------------------------------


def test_the_model_reads_only_the_public_message(owner, broken):
    chat = ChatFactory(owner=owner)
    seen: list[str] = []

    def then(step):
        def remember(messages):
            seen.append(tool_text(messages))  # what the last tool told the model
            return step

        return remember

    script = ScriptedModel(
        Call("list_tables", {}),
        then(Call("describe_table", {"name": "orders"})),
        then(Call("run_sql", {"sql": SQL})),
        then(Say("The data source is down; here is the reference.")),
    )
    reply = run_turn_sync(chat, post_user_message(chat, content="Orders?"), model=script.model)
    assert reply.reply.status == Message.Status.COMPLETE
    assert len(seen) == 3
    for text in seen:
        assert_public_only(text, broken)  # each tool said it in plain words


# --- credentials in what users are shown ------------------------------------------------------


def test_credentials_are_masked_in_any_error_text():
    location = "postgresql://reader:pa55word@db.internal:5432/shop"
    text = (
        "could not use postgresql://reader:pa55word@db.internal/shop, "
        "host=db password='x y' and pa55word again"
    )
    masked = mask_secrets(text, location)
    assert "pa55word" not in masked and "x y" not in masked
    assert "reader:" not in masked
    assert "postgresql://***@db.internal/shop" in masked


# --- the real server: a role that may not log in, a database that does not exist --------------


@pytest.fixture
def nologin_role(postgres_url: str) -> Iterator[str]:
    role = "shop_nologin_probe"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(pgsql.SQL("DROP ROLE IF EXISTS {}").format(pgsql.Identifier(role)))
        admin.execute(
            pgsql.SQL("CREATE ROLE {} NOLOGIN PASSWORD 'hunter2secret'").format(
                pgsql.Identifier(role)
            )
        )
    try:
        yield url_for(postgres_url, database="postgres", user=role, password="hunter2secret")
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(pgsql.SQL("DROP ROLE IF EXISTS {}").format(pgsql.Identifier(role)))


@pytest.mark.postgres
@pytest.mark.parametrize("broken", ["server down"], indirect=True)
def test_a_role_refused_at_login_or_a_missing_database_is_told_in_plain_words(
    owner_api, staff_api, owner, postgres_url, nologin_role, settings
):
    missing_db = url_for(postgres_url, database="no_such_shop_db")
    for url, words in [
        (nologin_role, 'role "shop_nologin_probe" is not permitted to log in'),
        (missing_db, 'database "no_such_shop_db" does not exist'),
    ]:
        settings.DATA_SOURCES = f"marketplace={url}"
        artifact = ArtifactFactory(owner=owner, sql_query=SQL)
        execute_url = reverse("api:artifact-execute", args=[artifact.pk])
        response = owner_api.post(execute_url, {}, format="json")
        assert response.status_code == 400
        text = response.content.decode()
        assert PUBLIC.search(text)
        server = urlsplit(postgres_url)
        secrets = ["shop_nologin_probe", "no_such_shop_db", "hunter2", server.hostname]
        for secret in [*secrets, f"port {server.port or 5432}"]:
            assert secret not in text
        staff_text = staff_api.post(execute_url, {}, format="json").json()["detail"]
        assert words in staff_text and "hunter2secret" not in staff_text

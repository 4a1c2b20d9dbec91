"""Personas and shared fixtures.

`owner` owns the objects under test, `other_user` must never see them (404), and `staff`
sees everything.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import factory
import psycopg
import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import translation
from factory.django import DjangoModelFactory
from rest_framework.test import APIClient

from tests.fakes.llm_server import FakeLLMServer

PASSWORD = "correct-horse-battery-staple"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password(PASSWORD)


@pytest.fixture(autouse=True, scope="session")
def static_files_from_the_finders():
    # Outside tests, pages link content-hashed names that only exist after collectstatic
    # (settings, STORAGES). Tests do not collect, so, as Django advises, they link the plain
    # names, served from the finders; tests/test_static_files.py checks the hashed ones.
    # Autorefresh: WhiteNoise looks a file up when it is asked for, instead of listing
    # STATIC_ROOT and every finder's files whenever its middleware is built, which a test
    # client does for each test (0.2-0.7 s a test with a collected STATIC_ROOT).
    with override_settings(
        STORAGES={
            **django_settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        WHITENOISE_USE_FINDERS=True,
        WHITENOISE_AUTOREFRESH=True,
    ):
        yield


@pytest.fixture(autouse=True, scope="session")
def jobs_run_in_process():
    # A job enqueued in a test runs at once, inside the test's transaction, so tests see its
    # outcome without a worker; tests/jobs/test_worker.py runs real worker processes.
    with override_settings(
        TASKS={"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    ):
        yield


@pytest.fixture(autouse=True, scope="session")
def connections_stay_open_in_tests():
    # Closing a response the test client returned sends request_finished, whose
    # close_old_connections would close the test's connection in the middle of its
    # transaction (on PostgreSQL: "the connection is closed" in the next query). Tests run in
    # one transaction each; nothing here needs connections recycled.
    from django.core.signals import request_finished
    from django.db import close_old_connections

    request_finished.disconnect(close_old_connections)
    yield
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def english_after_each_test():
    # A request answered in Russian leaves Russian active on the test's thread; the next test
    # starts in the default language, as a new request would.
    yield
    translation.activate(django_settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Real hashing costs ~100 ms per user; tests check behaviour, not the hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def no_provider_retries(settings):
    # A test that posts to an unreachable or failing provider gets its error at once instead
    # of after the SDK's back-off; tests about retries set LLM_MAX_RETRIES themselves.
    settings.LLM_MAX_RETRIES = 0


@pytest.fixture(autouse=True)
def fresh_cache():
    # Rate-limit counters (the token endpoint's throttle) live in the cache: one test's
    # requests must not throttle the next test's.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def owner(db):
    return UserFactory(username="owner")


@pytest.fixture
def other_user(db):
    return UserFactory(username="other")


@pytest.fixture
def staff(db):
    return UserFactory(username="staff", is_staff=True, is_superuser=True)


# --- Sharing personas ---------------------------------------------------------------------------
# Groups by name: "analysts" (`team`: group_viewer and group_editor), "analyst-editors"
# (`editors`: group_editor only, so a share can give editing to the editor and not the viewer),
# "support" (`other_team`: outsider) and "contractors" (no_source_user). The personas are
# defined with their groups further down (the pages' block); a test shares its objects and
# grants its data sources to them (tests/test_authz_matrix.py's shared_world shows the usual
# set-up, `share()` below the quick one).


def _member(username: str, *groups: str):
    from django.contrib.auth.models import Group

    user = UserFactory(username=username)
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in groups])
    return user


@pytest.fixture
def no_source_user(db):
    """In group "contractors": shared what the analysts are, but not granted its data source."""
    return _member("no-source", "contractors")


def _client_for(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(client, owner):
    return _client_for(client, owner)


@pytest.fixture
def staff_client(client, staff):
    return _client_for(client, staff)


@pytest.fixture
def assert_get_queries(django_assert_max_num_queries):
    """`assert_get_queries(client, url, most=N)`: a GET of `url` answers 200 in at most N queries.

    A first, uncounted request fills process-wide caches (the admin change page looks up
    content types once per process), so the count does not depend on which test ran before.
    The admin tests call it with a few rows and again with many: the same N for both shows
    that the page costs no query per row.
    """

    def check(client, url: str, *, most: int) -> None:
        client.get(url)
        with django_assert_max_num_queries(most):
            response = client.get(url)
        assert response.status_code == 200

    return check


@pytest.fixture
def server():
    """A loopback fake of an OpenAI-compatible provider (tests/fakes/llm_server.py)."""
    with FakeLLMServer("openai") as server:
        yield server


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def owner_api(owner):
    client = APIClient()
    client.force_authenticate(owner)
    return client


@pytest.fixture
def other_api(other_user):
    client = APIClient()
    client.force_authenticate(other_user)
    return client


@pytest.fixture
def staff_api(staff):
    client = APIClient()
    client.force_authenticate(staff)
    return client


# --- PostgreSQL -------------------------------------------------------------------------------
# Tests marked `postgres` use the server named by TEST_POSTGRES_URL (a superuser DSN; start one
# with `bash .ci/postgres.sh start`). Without it they skip locally and fail under CI=true, so
# CI can never pass by skipping them.


def _postgres_url_or_skip() -> str:
    url = os.environ.get("TEST_POSTGRES_URL", "")
    if url:
        return url
    message = "TEST_POSTGRES_URL is not set (start a server with `bash .ci/postgres.sh start`)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI must run the PostgreSQL tests.")
    pytest.skip(message)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres"):
        _postgres_url_or_skip()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The superuser DSN of the test PostgreSQL server."""
    return _postgres_url_or_skip()


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A new empty database on the test server, dropped afterwards; yields its DSN."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(postgres_url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def keep_db_connection_open(monkeypatch):
    """Keep the test's database connection through request signals fired outside the client.

    Django closes "old" connections when a request starts or finishes. The test client
    suspends that while it handles a request, but a test that drives the ASGI app itself or
    closes a streamed response later fires the signals too; on PostgreSQL the close ends the
    test's transaction (SQLite's in-memory test database ignores it).
    """
    from django.db import connection

    monkeypatch.setattr(connection, "close_if_unusable_or_obsolete", lambda: None)


# --- A populated world for the schema fuzzer and the authorization matrix ---------------------
# The owner's objects of every kind, so ids in generated paths hit real rows; the other user
# owns a chat and an artifact too, so "yours" and "someone's" are both non-empty sets.


@pytest.fixture
def llm_fake_server():
    """An OpenAI-compatible fake on loopback that answers every turn with a short text."""
    from tests.fakes.llm_server import FakeLLMServer, Step

    with FakeLLMServer("openai", default=lambda body: Step(text=["Fine."])) as server:
        yield server


@pytest.fixture
def owner_world(tmp_path, settings, owner, other_user, staff, llm_fake_server):
    """The owner's agent, chat (a question and its reply), artifact (with runs and a chart)
    and the `marketplace` sample data source; returns them by path-parameter role."""
    import datetime as dt
    from types import SimpleNamespace

    from apps.accounts.models import ApiToken
    from apps.datasources.schema import clear_schema_cache
    from apps.llm_artifact.models import ArtifactRun
    from apps.llm_chat.models import Message
    from tests.datasources import sample
    from tests.llm_agent.factories import AgentFactory
    from tests.llm_artifact.factories import ArtifactFactory
    from tests.llm_chat.factories import ChatFactory, MessageFactory

    sample.use_sqlite(tmp_path, settings)
    clear_schema_cache()
    settings.LLM_MAX_RETRIES = 0
    settings.LLM_REQUEST_TIMEOUT_SECONDS = 5
    agent = AgentFactory(name="Fuzz agent", base_url=llm_fake_server.base_url)
    chat = ChatFactory(owner=owner, agent=agent, title="Owner chat zq1")
    question = MessageFactory(chat=chat, content="How many orders?")
    reply = MessageFactory(
        chat=chat, role=Message.Role.ASSISTANT, content="Ten.", reply_to=question
    )
    artifact = ArtifactFactory(
        owner=owner,
        chat=chat,
        agent=agent,
        title="Owner artifact zq2",
        sql_query=(
            "SELECT status, COUNT(*) AS orders, ROUND(SUM(total), 2) AS revenue FROM orders "
            "WHERE ordered_at >= :since AND total >= :min_total "
            "GROUP BY status ORDER BY revenue DESC"
        ),
        query_params=[
            {"name": "since", "type": "date", "default": "2024-01-01"},
            {"name": "min_total", "type": "number", "default": 0},
        ],
        visualization_config={
            "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
            "data": {"name": "results"},
            "mark": "bar",
            "encoding": {
                "y": {"field": "status", "type": "nominal"},
                "x": {"field": "revenue", "type": "quantitative"},
            },
        },
    )
    started = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    artifact.record_run(
        user=owner,
        outcome=ArtifactRun.Outcome.OK,
        started_at=started,
        params={"since": "2024-01-01"},
        row_count=6,
        columns=[
            {"name": "status", "type": "string"},
            {"name": "orders", "type": "integer"},
            {"name": "revenue", "type": "number"},
        ],
    )
    artifact.record_run(
        user=owner, outcome=ArtifactRun.Outcome.ERROR, started_at=started, params={}, error="x"
    )
    # Someone else's objects exist too: lists must not show them to the owner.
    ArtifactFactory(owner=other_user, title="Other's artifact")
    ChatFactory(owner=other_user, agent=agent, title="Other's chat")
    return SimpleNamespace(
        agent=agent,
        chat=chat,
        question=question,
        reply=reply,
        artifact=artifact,
        data_source="marketplace",
        tokens={
            user.username: ApiToken.objects.create(user=user)[1]
            for user in (owner, other_user, staff)
        },
    )


# --- Sharing personas (the pages' tests; tests/llm_artifact/test_sharing_pages.py) ----------
# `team` is the group the owner shares with: `group_viewer` and `group_editor` are in it (the
# share's view or edit is each test's choice, see `share`); `outsider` is in another group;
# `no_source_access` is in `team` too, but the data source is granted only to the others.


def group_named(name: str):
    from django.contrib.auth.models import Group

    return Group.objects.get_or_create(name=name)[0]


@pytest.fixture
def team(db):
    """The group "analysts" (also the fixture `analysts`)."""
    return group_named("analysts")


@pytest.fixture
def analysts(team):
    return team


@pytest.fixture
def other_team(db):
    """The group "support" (also the fixture `support`)."""
    return group_named("support")


@pytest.fixture
def support(other_team):
    return other_team


@pytest.fixture
def editors(db):
    """A second group of `team`'s members, for shares that let them edit."""
    return group_named("analyst-editors")


@pytest.fixture
def group_viewer(team):
    user = UserFactory(username="group_viewer")
    user.groups.add(team)
    return user


@pytest.fixture
def group_editor(team, editors):
    user = UserFactory(username="group_editor")
    user.groups.add(team, editors)
    return user


@pytest.fixture
def outsider(other_team):
    user = UserFactory(username="outsider")
    user.groups.add(other_team)
    return user


@pytest.fixture
def no_source_access(team, owner, group_viewer, group_editor, staff):
    """In `team`, but the `marketplace` source is granted to a group without them."""
    from django.contrib.auth.models import Group

    from apps.datasources.models import DataSourceGrant, DataSourcePolicy

    user = UserFactory(username="no_source_access")
    user.groups.add(team)
    granted = Group.objects.create(name="Marketplace users")
    granted.user_set.add(owner, group_viewer, group_editor)
    policy = DataSourcePolicy.objects.create(source="marketplace")
    DataSourceGrant.objects.create(policy=policy, group=granted)
    return user


def share(row, *groups, edit=(), visibility="groups"):
    """Share an artifact or a chat with `groups` (those also in `edit` may edit it)."""
    row.visibility = visibility
    row.save(update_fields=["visibility"])
    for group in groups:
        model = row.shares.model
        editable = any(f.name == "can_edit" for f in model._meta.concrete_fields)
        fields = {"can_edit": group in edit} if editable else {}
        model.objects.create(group=group, **fields, **{_row_field(row): row})
    return row


def _row_field(row) -> str:
    return row._meta.model_name  # ArtifactShare.artifact, ChatShare.chat

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.llm_artifact.models import Artifact
from tests.conftest import PASSWORD
from tests.llm_agent.factories import AgentFactory
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("api:artifact-list")


def detail_url(artifact: Artifact) -> str:
    return reverse("api:artifact-detail", args=[artifact.pk])


def titles(response) -> list[str]:
    return [row["title"] for row in response.json()["results"]]


def valid_payload(**overrides) -> dict:
    payload = {
        "title": "Revenue by month",
        "sql_query": "SELECT substr(ordered_at, 1, 7) AS month, SUM(total) FROM orders GROUP BY 1",
        "description": "Monthly revenue.",
    }
    payload.update(overrides)
    return payload


# --- who sees what --------------------------------------------------------------------------


def test_owner_lists_only_their_own_artifacts(owner_api, owner, other_user):
    ArtifactFactory(owner=owner, title="Mine")
    ArtifactFactory(owner=other_user, title="Theirs")

    response = owner_api.get(LIST_URL)

    assert response.status_code == 200
    assert titles(response) == ["Mine"]
    assert response.json()["count"] == 1


def test_staff_lists_everyones_artifacts_with_scope_all(staff_api, owner, other_user):
    # Issue 12: staff's list shows their own and shared rows; `scope=all` is the toggle to
    # see everything.
    ArtifactFactory(owner=owner, title="Mine")
    ArtifactFactory(owner=other_user, title="Theirs")

    assert titles(staff_api.get(LIST_URL)) == []
    assert sorted(titles(staff_api.get(LIST_URL, {"scope": "all"}))) == ["Mine", "Theirs"]


def test_owner_retrieves_their_artifact_with_every_field(owner_api, owner):
    chat = ChatFactory(owner=owner)
    artifact = ArtifactFactory(
        owner=owner,
        chat=chat,
        agent=chat.agent,
        query_params=[{"name": "status", "type": "string", "default": "paid"}],
        visualization_config={"mark": "bar"},
    )

    response = owner_api.get(detail_url(artifact))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == artifact.pk
    assert body["title"] == artifact.title
    assert body["sql_query"] == artifact.sql_query
    assert body["query_params"] == [{"name": "status", "type": "string", "default": "paid"}]
    assert body["visualization_config"] == {"mark": "bar"}
    assert body["chat"] == chat.pk
    assert body["agent"] == chat.agent.pk
    assert body["owner"] == "owner"
    assert body["status"] == "active"
    assert body["artifact_type"] == "sql_query"
    assert body["data_source"] == "marketplace"
    assert body["execution_count"] == 0
    assert body["last_executed_at"] is None
    assert body["last_error"] == ""
    assert body["url"].endswith(detail_url(artifact))


@pytest.mark.parametrize(
    ("method", "payload"),
    [("get", None), ("patch", {"comment": "hijacked"}), ("put", valid_payload()), ("delete", None)],
)
def test_other_user_gets_404_and_changes_nothing(other_api, owner, method, payload):
    artifact = ArtifactFactory(owner=owner, comment="original")

    response = getattr(other_api, method)(detail_url(artifact), payload, format="json")

    assert response.status_code == 404
    artifact.refresh_from_db()
    assert artifact.comment == "original"
    assert artifact.title != "Revenue by month"


def test_staff_can_read_and_change_anyones_artifact(staff_api, owner):
    artifact = ArtifactFactory(owner=owner)

    assert staff_api.get(detail_url(artifact)).status_code == 200
    response = staff_api.patch(detail_url(artifact), {"status": "deprecated"}, format="json")

    assert response.status_code == 200
    artifact.refresh_from_db()
    assert artifact.status == "deprecated"
    assert artifact.owner == owner


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_is_refused_the_list(api_client, owner, method):
    ArtifactFactory(owner=owner, title="Secret")

    response = getattr(api_client, method)(LIST_URL, valid_payload(), format="json")

    assert response.status_code == 401
    assert "Secret" not in response.content.decode()
    assert Artifact.objects.count() == 1


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_anonymous_is_refused_an_artifact(api_client, owner, method):
    artifact = ArtifactFactory(owner=owner)

    response = getattr(api_client, method)(detail_url(artifact), {"comment": "x"}, format="json")

    assert response.status_code == 401
    assert Artifact.objects.filter(pk=artifact.pk, comment="").exists()


def test_browsable_api_renders_for_a_signed_in_user(owner_client, owner):
    artifact = ArtifactFactory(owner=owner, title="Revenue by seller")

    listing = owner_client.get(LIST_URL, HTTP_ACCEPT="text/html")
    detail = owner_client.get(detail_url(artifact), HTTP_ACCEPT="text/html")

    assert listing.status_code == 200
    assert listing["Content-Type"].startswith("text/html")
    assert "Revenue by seller" in listing.content.decode()
    assert detail.status_code == 200


# --- create, update, delete -------------------------------------------------------------------


def test_create_sets_the_owner_and_the_default_data_source(owner_api, owner, settings):
    settings.DATA_SOURCES = "marketplace=sqlite:///var/a.sqlite3 warehouse=sqlite:///var/b.sqlite3"
    settings.DEFAULT_DATA_SOURCE = "warehouse"

    response = owner_api.post(LIST_URL, valid_payload(), format="json")

    assert response.status_code == 201, response.json()
    artifact = Artifact.objects.get(pk=response.json()["id"])
    assert artifact.owner == owner
    assert artifact.data_source == "warehouse"
    assert artifact.status == "active"
    assert artifact.query_params == []
    assert artifact.visualization_config == {}
    assert response.json()["owner"] == "owner"


def test_create_ignores_read_only_fields(owner_api, owner, other_user):
    response = owner_api.post(
        LIST_URL,
        valid_payload(
            owner=other_user.pk,
            execution_count=99,
            last_executed_at="2024-01-01T00:00:00Z",
            last_error="made up",
            created_at="2000-01-01T00:00:00Z",
        ),
        format="json",
    )

    assert response.status_code == 201
    artifact = Artifact.objects.get(pk=response.json()["id"])
    assert artifact.owner == owner
    assert artifact.execution_count == 0
    assert artifact.last_executed_at is None
    assert artifact.last_error == ""
    assert artifact.created_at.year == timezone.now().year


def test_create_links_own_chat_and_an_agent(owner_api, owner):
    chat = ChatFactory(owner=owner)
    agent = AgentFactory(name="Analyst")

    response = owner_api.post(LIST_URL, valid_payload(chat=chat.pk, agent=agent.pk), format="json")

    assert response.status_code == 201
    artifact = Artifact.objects.get(pk=response.json()["id"])
    assert artifact.chat == chat
    assert artifact.agent == agent


def test_another_users_chat_is_a_400_on_the_chat_field(owner_api, other_user):
    their_chat = ChatFactory(owner=other_user)

    response = owner_api.post(LIST_URL, valid_payload(chat=their_chat.pk), format="json")

    assert response.status_code == 400
    assert response.json()["chat"] == [f"You have no chat with id {their_chat.pk}."]
    assert not Artifact.objects.exists()


def test_moving_an_artifact_to_another_users_chat_is_refused(owner_api, owner, other_user):
    artifact = ArtifactFactory(owner=owner)
    their_chat = ChatFactory(owner=other_user)

    response = owner_api.patch(detail_url(artifact), {"chat": their_chat.pk}, format="json")

    assert response.status_code == 400
    assert "chat" in response.json()
    artifact.refresh_from_db()
    assert artifact.chat is None


def test_owner_updates_their_artifact(owner_api, owner):
    artifact = ArtifactFactory(owner=owner)

    response = owner_api.patch(
        detail_url(artifact),
        {"comment": "Checked with finance.", "status": "draft"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["comment"] == "Checked with finance."
    artifact.refresh_from_db()
    assert (artifact.comment, artifact.status) == ("Checked with finance.", "draft")


def test_owner_replaces_their_artifact(owner_api, owner):
    artifact = ArtifactFactory(owner=owner, comment="old")

    response = owner_api.put(
        detail_url(artifact),
        valid_payload(title="Replaced", query_params=[{"name": "n", "type": "integer"}]),
        format="json",
    )

    assert response.status_code == 200, response.json()
    artifact.refresh_from_db()
    assert artifact.title == "Replaced"
    assert artifact.query_params == [{"name": "n", "type": "integer"}]


def test_owner_deletes_their_artifact_and_the_chat_message_stays(owner_api, owner):
    chat = ChatFactory(owner=owner)
    artifact = ArtifactFactory(owner=owner, chat=chat)
    message = MessageFactory(
        chat=chat, role="assistant", artifact=artifact, artifact_action="created"
    )

    response = owner_api.delete(detail_url(artifact))

    assert response.status_code == 204
    assert not Artifact.objects.filter(pk=artifact.pk).exists()
    message.refresh_from_db()
    assert message.artifact is None


# --- validation: the model's rules as field-level 400s ------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"query_params": [{"name": "1st", "type": "string"}]}, "query_params", "identifier"),
        ({"query_params": [{"name": "n", "type": "money"}]}, "query_params", "not one of"),
        (
            {"query_params": [{"name": "n", "type": "integer", "default": "ten"}]},
            "query_params",
            "does not match its type",
        ),
        (
            {"query_params": [{"name": "n", "type": "date"}, {"name": "n", "type": "date"}]},
            "query_params",
            "declared twice",
        ),
        ({"query_params": {"name": "n"}}, "query_params", "must be a list"),
        ({"visualization_config": ["bar"]}, "visualization_config", "JSON object"),
        ({"visualization_config": "bar"}, "visualization_config", "JSON object"),
        ({"sql_query": ""}, "sql_query", "needs its SQL"),
        ({"sql_query": "   "}, "sql_query", "needs its SQL"),
        ({"sql_query": "DELETE FROM orders"}, "sql_query", "DELETE"),
        ({"sql_query": "SELECT * FROM orders WHERE status = :status"}, "sql_query", ":status"),
        ({"data_source": "nowhere"}, "data_source", "Unknown data source"),
        ({"status": "published"}, "status", "not a valid choice"),
        ({"artifact_type": "python"}, "artifact_type", "not a valid choice"),
        ({"title": ""}, "title", "blank"),
        ({"agent": 999_999}, "agent", "does not exist"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(owner_api, overrides, field, words):
    response = owner_api.post(LIST_URL, valid_payload(**overrides), format="json")

    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert words in " ".join(errors[field])
    assert not Artifact.objects.exists()


def test_bad_update_is_a_400_and_keeps_the_artifact(owner_api, owner):
    artifact = ArtifactFactory(owner=owner, visualization_config={"mark": "bar"})

    response = owner_api.patch(
        detail_url(artifact), {"visualization_config": [1, 2], "title": "New"}, format="json"
    )

    assert response.status_code == 400
    assert "visualization_config" in response.json()
    artifact.refresh_from_db()
    assert artifact.visualization_config == {"mark": "bar"}
    assert artifact.title != "New"


# --- filters, search, ordering, pagination -----------------------------------------------------


def test_filters_by_status_type_data_source_chat_and_agent(owner_api, owner, settings):
    settings.DATA_SOURCES = "marketplace=sqlite:///var/a.sqlite3 warehouse=sqlite:///var/b.sqlite3"
    chat = ChatFactory(owner=owner)
    agent = AgentFactory(name="Other agent")
    ArtifactFactory(owner=owner, title="Draft", status="draft")
    ArtifactFactory(owner=owner, title="In chat", chat=chat)
    ArtifactFactory(owner=owner, title="By agent", agent=agent)
    ArtifactFactory(owner=owner, title="Warehouse", data_source="warehouse")

    assert titles(owner_api.get(LIST_URL, {"status": "draft"})) == ["Draft"]
    assert titles(owner_api.get(LIST_URL, {"chat": chat.pk})) == ["In chat"]
    assert titles(owner_api.get(LIST_URL, {"agent": agent.pk})) == ["By agent"]
    assert titles(owner_api.get(LIST_URL, {"data_source": "warehouse"})) == ["Warehouse"]
    assert len(titles(owner_api.get(LIST_URL, {"artifact_type": "sql_query"}))) == 4


def test_unknown_filter_values_are_a_400(owner_api):
    for params, field in [
        ({"status": "published"}, "status"),
        ({"artifact_type": "python"}, "artifact_type"),
        ({"chat": 999_999}, "chat"),
        ({"created_after": "last tuesday"}, "created"),
    ]:
        response = owner_api.get(LIST_URL, params)
        assert response.status_code == 400, params
        assert field in response.json(), response.json()


def test_filtering_by_another_users_chat_shows_nothing_of_theirs(owner_api, other_user):
    their_chat = ChatFactory(owner=other_user)
    ArtifactFactory(owner=other_user, chat=their_chat)

    response = owner_api.get(LIST_URL, {"chat": their_chat.pk})

    # Refused like a chat that does not exist (test_related_choices.py): no oracle.
    assert response.status_code == 400
    assert "results" not in response.json()


def _set_dates(artifact: Artifact, **dates: dt.datetime) -> None:
    # created_at and updated_at are automatic; set them directly as time passing would.
    Artifact.objects.filter(pk=artifact.pk).update(**dates)


def test_date_range_filters_include_both_days(owner_api, owner):
    day = dt.datetime(2025, 3, 10, 23, 30, tzinfo=dt.UTC)
    january = ArtifactFactory(owner=owner, title="January")
    march = ArtifactFactory(owner=owner, title="March")
    never_run = ArtifactFactory(owner=owner, title="Never run")
    _set_dates(
        january,
        created_at=day.replace(month=1),
        updated_at=day.replace(month=1),
        last_executed_at=day.replace(month=1),
    )
    _set_dates(march, created_at=day, updated_at=day, last_executed_at=day)
    _set_dates(never_run, created_at=day.replace(month=5), updated_at=day.replace(month=5))

    def listed(**params: str) -> list[str]:
        return sorted(titles(owner_api.get(LIST_URL, params)))

    assert listed(created_after="2025-03-10") == ["March", "Never run"]
    assert listed(created_before="2025-03-10") == ["January", "March"]
    assert listed(created_after="2025-02-01", created_before="2025-04-01") == ["March"]
    assert listed(updated_after="2025-04-01") == ["Never run"]
    assert listed(updated_before="2025-01-31") == ["January"]
    assert listed(last_executed_after="2025-01-01") == ["January", "March"]
    assert listed(last_executed_after="2025-03-11") == []
    assert listed(last_executed_before="2025-03-10") == ["January", "March"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "Churned customers"),
        ("description", "Customers at risk of churning"),
        ("comment", "Reviewed by the CHURN team"),
        ("sql_query", "SELECT * FROM customers WHERE churned_at IS NOT NULL"),
    ],
)
def test_search_looks_in_title_description_comment_and_sql(owner_api, owner, field, value):
    ArtifactFactory(owner=owner, title="Unrelated")
    match = ArtifactFactory(owner=owner, **{field: value})

    response = owner_api.get(LIST_URL, {"search": "churn"})

    assert [row["id"] for row in response.json()["results"]] == [match.pk]


def test_search_does_not_reach_other_users_artifacts(owner_api, other_user):
    ArtifactFactory(owner=other_user, title="Churned customers")

    assert owner_api.get(LIST_URL, {"search": "churn"}).json()["results"] == []


def test_ordering_by_title_execution_count_and_dates(owner_api, owner):
    first = ArtifactFactory(owner=owner, title="B", execution_count=5)
    second = ArtifactFactory(owner=owner, title="A", execution_count=1)
    third = ArtifactFactory(owner=owner, title="C", execution_count=9)
    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for offset, artifact in enumerate([first, second, third]):
        _set_dates(
            artifact,
            created_at=base + dt.timedelta(days=offset),
            updated_at=base - dt.timedelta(days=offset),
        )

    def ordered(ordering: str) -> list[str]:
        return titles(owner_api.get(LIST_URL, {"ordering": ordering}))

    assert ordered("title") == ["A", "B", "C"]
    assert ordered("-title") == ["C", "B", "A"]
    assert ordered("execution_count") == ["A", "B", "C"]
    assert ordered("-execution_count") == ["C", "B", "A"]
    assert ordered("created_at") == ["B", "A", "C"]
    assert ordered("-updated_at") == ["B", "A", "C"]
    # Without ?ordering the newest comes first.
    assert titles(owner_api.get(LIST_URL)) == ["C", "A", "B"]


def test_never_run_artifacts_sort_last_both_ways(owner_api, owner):
    ArtifactFactory(owner=owner, title="Never")
    ArtifactFactory(owner=owner, title="Old", last_executed_at=timezone.now() - dt.timedelta(1))
    ArtifactFactory(owner=owner, title="Recent", last_executed_at=timezone.now())

    newest_first = titles(owner_api.get(LIST_URL, {"ordering": "-last_executed_at"}))
    oldest_first = titles(owner_api.get(LIST_URL, {"ordering": "last_executed_at"}))

    assert newest_first == ["Recent", "Old", "Never"]
    assert oldest_first == ["Old", "Recent", "Never"]


def test_pages_never_repeat_rows_when_the_sort_key_ties(owner_api, owner):
    ArtifactFactory.create_batch(7, owner=owner, execution_count=3)

    seen = []
    for page in (1, 2, 3):
        response = owner_api.get(
            LIST_URL, {"ordering": "execution_count", "page_size": 3, "page": page}
        )
        seen += [row["id"] for row in response.json()["results"]]

    assert sorted(seen) == sorted(Artifact.objects.values_list("pk", flat=True))


def test_pagination_defaults_to_25_and_caps_page_size_at_200(owner_api, owner):
    ArtifactFactory.create_batch(201, owner=owner)

    default = owner_api.get(LIST_URL).json()
    small = owner_api.get(LIST_URL, {"page_size": 10, "page": 2}).json()
    capped = owner_api.get(LIST_URL, {"page_size": 10_000}).json()

    assert default["count"] == 201
    assert len(default["results"]) == 25
    assert default["next"] is not None
    assert len(small["results"]) == 10
    assert small["previous"] is not None
    assert len(capped["results"]) == 200
    assert "page=2" in capped["next"]


def test_page_past_the_end_is_a_404(owner_api, owner):
    ArtifactFactory(owner=owner)

    assert owner_api.get(LIST_URL, {"page": 5}).status_code == 404


# --- query counts ------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [5, 55])
def test_list_runs_a_fixed_number_of_queries(owner_api, owner, rows, django_assert_max_num_queries):
    chat = ChatFactory(owner=owner)
    ArtifactFactory.create_batch(rows, owner=owner, chat=chat, agent=chat.agent)

    # One COUNT for the pager, one SELECT joining owner, chat and agent, the shares and the
    # tags of the page's rows, and the requester's groups and the data-source grants (once:
    # can_edit and can_manage ask them of every row).
    with django_assert_max_num_queries(6):
        response = owner_api.get(LIST_URL, {"page_size": 100})

    assert len(response.json()["results"]) == rows


# --- token authentication, end to end ------------------------------------------------------------


def test_token_client_creates_filters_updates_and_deletes_its_artifacts(owner, other_user):
    theirs = ArtifactFactory(owner=other_user, title="Their artifact")
    client = APIClient()

    token_response = client.post(
        reverse("api:auth-token"), {"username": "owner", "password": PASSWORD}, format="json"
    )
    assert token_response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_response.json()['token']}")

    created = client.post(LIST_URL, valid_payload(status="draft"), format="json")
    assert created.status_code == 201
    mine = created.json()["url"]

    client.post(LIST_URL, valid_payload(title="Another"), format="json")
    drafts = client.get(LIST_URL, {"status": "draft"}).json()
    assert [row["url"] for row in drafts["results"]] == [mine]

    updated = client.patch(mine, {"status": "active", "comment": "Ready."}, format="json")
    assert updated.status_code == 200
    assert updated.json()["status"] == "active"

    assert client.get(detail_url(theirs)).status_code == 404
    assert client.delete(detail_url(theirs)).status_code == 404
    assert client.delete(mine).status_code == 204
    assert client.get(mine).status_code == 404
    assert Artifact.objects.filter(pk=theirs.pk).exists()
    assert list(Artifact.objects.filter(owner=owner).values_list("title", flat=True)) == ["Another"]


def test_token_is_refused_for_a_wrong_password(api_client, owner):
    response = api_client.post(
        reverse("api:auth-token"), {"username": "owner", "password": "wrong"}, format="json"
    )

    assert response.status_code == 400
    assert "token" not in response.json()


def test_a_made_up_token_is_refused(api_client, owner):
    ArtifactFactory(owner=owner)
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = api_client.get(LIST_URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"

"""Running artifacts from the pages: the run panel on the artifact page (typed parameter
form, result table, errors, run history, statistics) and the Run button of a chat card."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_chat.models import Message
from tests.conftest import UserFactory, share
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
BIG_ORDERS = (
    "SELECT o.id, c.name, c.email, o.total, o.ordered_at\n"
    "FROM orders o JOIN customers c ON c.id = o.customer_id\n"
    "WHERE o.ordered_at >= :since AND o.total >= :minimum\n"
    "ORDER BY o.id"
)
DECLARATIONS = [
    {"name": "since", "type": "date", "label": "Ordered since", "default": "2024-01-01"},
    {"name": "minimum", "type": "number", "label": "Minimum total", "required": True},
]
RUNAWAY = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
FIFTEEN = (
    "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 15) "
    "SELECT n, CASE WHEN n % 2 = 0 THEN NULL ELSE n * 1.5 END AS half FROM seq"
)


@pytest.fixture
def artifact(shop: Path, owner) -> Artifact:
    return ArtifactFactory(
        owner=owner, title="Big orders", sql_query=BIG_ORDERS, query_params=DECLARATIONS
    )


def run_url(artifact: Artifact) -> str:
    return reverse("llm_artifact:artifact_run", args=[artifact.pk])


def card_run_url(artifact: Artifact) -> str:
    return reverse("llm_artifact:artifact_card_run", args=[artifact.pk])


def result_rows(content: str) -> list[str]:
    """The rows of the result table, as the text of their cells joined by '|'."""
    table = content.split('class="table table-sm table-striped table-hover result-table', 1)[1]
    body = table.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    return [
        "|".join(re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>.*?</td>", row))
        for row in rows
    ]


# --- Access ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [run_url, card_run_url])
def test_anonymous_is_sent_to_sign_in_and_nothing_runs(client, artifact, url):
    response = client.post(url(artifact), {"minimum": "100"})
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert not ArtifactRun.objects.exists()


@pytest.mark.parametrize("url", [run_url, card_run_url])
def test_other_user_gets_404_and_nothing_runs(client, other_user, artifact, url):
    client.force_login(other_user)
    assert client.post(url(artifact), {"minimum": "100"}, headers=HTMX).status_code == 404
    assert client.post(url(artifact), {"minimum": "100"}).status_code == 404
    assert not ArtifactRun.objects.exists()
    artifact.refresh_from_db()
    assert artifact.execution_count == 0


@pytest.mark.parametrize("url", [run_url, card_run_url])
def test_runs_are_post_only(owner_client, artifact, url):
    assert owner_client.get(url(artifact)).status_code == 405
    assert not ArtifactRun.objects.exists()


def test_staff_can_run_anyones_artifact(client, staff, artifact):
    client.force_login(staff)
    response = client.post(run_url(artifact), {"minimum": "100"}, headers=HTMX)
    assert response.status_code == 200
    run = ArtifactRun.objects.get()
    assert run.user == staff
    assert run.outcome == ArtifactRun.Outcome.OK
    assert '<td class="small">staff</td>' in response.content.decode()


# --- The parameter form ----------------------------------------------------------------------


def test_detail_page_has_a_typed_parameter_form(owner_client, shop, owner):
    artifact = ArtifactFactory(
        owner=owner,
        sql_query="SELECT :s, :i, :n, :b, :d, :t",
        query_params=[
            {"name": "s", "type": "string", "label": "Status", "default": "paid"},
            {"name": "i", "type": "integer", "required": True},
            {"name": "n", "type": "number", "default": 2.5},
            {"name": "b", "type": "boolean", "default": True},
            {"name": "d", "type": "date", "label": "Since", "default": "2024-01-01"},
            {"name": "t", "type": "datetime", "default": "2024-01-01 08:30:00"},
        ],
    )
    content = owner_client.get(artifact.get_absolute_url()).content.decode()
    form = content.split('<form class="card-body border-bottom run-form"', 1)[1].split("</form>")[0]
    assert f'method="post" action="{run_url(artifact)}"' in form
    assert f'hx-post="{run_url(artifact)}"' in form
    assert 'hx-disabled-elt="find button[type=submit]"' in form
    assert 'class="htmx-indicator run-indicator' in form
    assert '<input type="text" name="s" value="paid"' in form
    assert '<label class="form-label small fw-semibold mb-1" for="param-s">Status</label>' in form
    assert re.search(r'<input type="number" name="i" [^>]*step="1"[^>]*aria-required="true"', form)
    assert 'I<span class="text-danger ms-1" aria-hidden="true">*</span>' in form
    assert re.search(r'<input type="number" name="n" value="2.5" [^>]*step="any"', form)
    assert '<option value="true" selected>Yes</option>' in form
    # Dates are typed as the help text, the URL and the history write them.
    assert '<input type="text" name="d" value="2024-01-01"' in form
    assert '<input type="text" name="t" value="2024-01-01 08:30:00"' in form
    assert 'placeholder="YYYY-MM-DD"' in form
    assert "Date as YYYY-MM-DD, default 2024-01-01" in form
    assert "Run the query to see its result here." in content


def test_a_query_without_parameters_has_just_the_run_button(owner_client, shop, owner):
    artifact = ArtifactFactory(owner=owner)
    content = owner_client.get(artifact.get_absolute_url()).content.decode()
    form = content.split('<form class="card-body border-bottom run-form"', 1)[1].split("</form>")[0]
    assert "run-param" not in form
    assert "Run</button>" in form


# --- A good run ------------------------------------------------------------------------------


def test_run_with_htmx_shows_the_table_and_updates_the_page(owner_client, artifact):
    response = owner_client.post(
        run_url(artifact), {"since": "2024-02-01", "minimum": "100"}, headers=HTMX
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<section id="artifact-run-panel"')
    assert "<html" not in content
    assert result_rows(content) == [
        "3|Alan Turing|alan@example.com|999.99|2024-02-01 09:15:00",
        "4|Grace Hopper|grace@example.com|250.00|2024-02-10 18:45:00",
        "8|Barbara Liskov|NULL|640.00|2024-03-21 11:11:00",
        "10|Ada Lovelace|ada@example.com|310.00|2024-04-18 19:30:00",
    ]
    # NULL is a badge, not an empty cell; numbers are right-aligned cells and headers.
    assert '<td class="cell-null"><span class="null-badge">NULL</span></td>' in content
    assert '<td class="cell-num">640.00</td>' in content  # as many decimals as 999.99
    assert '<th scope="col" class="cell-num" title="number">total</th>' in content
    assert '<th scope="col" class="cell-text" title="text">email</th>' in content
    assert '<span class="run-row-count fw-semibold">4 rows</span>' in content
    assert re.search(r'class="run-duration[^"]*"[^>]*>\d+(\.\d)? ms<', content)
    # The form keeps the values, and the export links carry them.
    assert '<input type="text" name="since" value="2024-02-01"' in content
    assert "/export/csv/?since=2024-02-01&amp;minimum=100" in content
    # Out of band: the status badge, the statistics and the history.
    assert (
        '<span class="badge text-bg-success" id="artifact-status" hx-swap-oob="true">Active'
        in content
    )
    assert re.search(r'<section id="artifact-stats"[^>]*hx-swap-oob="true"', content)
    assert 'id="artifact-execution-count">1</div>' in content
    assert re.search(r'<section id="artifact-run-history"[^>]*hx-swap-oob="true"', content)
    assert "<code>since=2024-02-01, minimum=100.0</code>" in content

    run = ArtifactRun.objects.get()
    assert (run.outcome, run.row_count, run.params) == (
        "ok",
        4,
        {"since": "2024-02-01", "minimum": 100.0},
    )
    artifact.refresh_from_db()
    assert artifact.execution_count == 1
    assert artifact.last_executed_at is not None


def test_run_without_javascript_renders_the_page_with_the_result(owner_client, artifact):
    response = owner_client.post(run_url(artifact), {"since": "", "minimum": "300"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" in content
    assert result_rows(content) == [
        "3|Alan Turing|alan@example.com|999.99|2024-02-01 09:15:00",
        "8|Barbara Liskov|NULL|640.00|2024-03-21 11:11:00",
        "10|Ada Lovelace|ada@example.com|310.00|2024-04-18 19:30:00",
    ]
    assert 'id="artifact-execution-count">1</div>' in content
    assert 'class="history-row" data-outcome="ok"' in content
    assert "hx-swap-oob" not in content
    # A blank input takes its default.
    assert ArtifactRun.objects.get().params == {"since": "2024-01-01", "minimum": 300.0}


def test_a_result_beyond_the_display_cap_says_so(owner_client, shop, settings, owner):
    settings.DATA_SOURCES = f"marketplace=sqlite:///{shop}?max_rows=3"
    artifact = ArtifactFactory(owner=owner, sql_query="SELECT id FROM orders ORDER BY id")
    content = owner_client.post(run_url(artifact), headers=HTMX).content.decode()
    assert result_rows(content) == ["1", "2", "3"]
    assert "Showing the first 3 rows — export for all." in content
    assert '<span class="run-row-count fw-semibold">3+ rows</span>' in content
    assert ArtifactRun.objects.get().truncated is True


def test_an_empty_result_says_so(owner_client, artifact):
    content = owner_client.post(run_url(artifact), {"minimum": "100000"}, headers=HTMX)
    assert "No rows.</span> The query ran and returned nothing for these values." in (
        content.content.decode()
    )


def test_numbers_show_without_float_noise(owner_client, shop, owner):
    artifact = ArtifactFactory(owner=owner, sql_query="SELECT 0.1 + 0.2, 35.0, 7, -2.5e-7, 1")
    content = owner_client.post(run_url(artifact), headers=HTMX).content.decode()
    assert result_rows(content) == ["0.3|35|7|-2.5e-07|1"]


def test_result_values_are_escaped(owner_client, shop, owner):
    artifact = ArtifactFactory(
        owner=owner, sql_query="SELECT '<script>alert(1)</script>' AS \"<b>col</b>\""
    )
    content = owner_client.post(run_url(artifact), headers=HTMX).content.decode()
    assert "<script>alert(1)" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "&lt;b&gt;col&lt;/b&gt;" in content


# --- Bad parameter values --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"minimum": "lots"}, "minimum", "Parameter &#x27;minimum&#x27;: expected a number"),
        ({"minimum": ""}, "minimum", "Parameter &#x27;minimum&#x27; is required."),
        ({}, "minimum", "Parameter &#x27;minimum&#x27; is required."),
        (
            {"minimum": "1", "since": "2024-13-45"},
            "since",
            "Parameter &#x27;since&#x27;: expected a date as YYYY-MM-DD",
        ),
    ],
)
def test_bad_values_are_shown_beside_their_input(owner_client, artifact, data, field, message):
    response = owner_client.post(run_url(artifact), data, headers=HTMX)
    assert response.status_code == 422
    content = response.content.decode()
    assert content.lstrip().startswith('<section id="artifact-run-panel"')
    error = re.search(
        rf'<div class="invalid-feedback d-block" id="param-{field}_error">(.*?)</div>', content
    )
    assert error and message in error.group(1)
    assert re.search(rf'<input [^>]*name="{field}"[^>]*aria-invalid="true"', content)
    assert "hx-swap-oob" not in content  # nothing ran, nothing else changes
    assert not ArtifactRun.objects.exists()
    artifact.refresh_from_db()
    assert artifact.execution_count == 0


def test_bad_values_without_javascript_show_the_page(owner_client, artifact):
    response = owner_client.post(run_url(artifact), {"minimum": "lots"})
    assert response.status_code == 422
    content = response.content.decode()
    assert "<html" in content
    assert "expected a number" in content
    assert '<input type="number" name="minimum" value="lots"' in content
    assert not ArtifactRun.objects.exists()


def test_invalid_declarations_are_reported_not_a_crash(owner_client, artifact):
    Artifact.objects.filter(pk=artifact.pk).update(query_params=[{"name": "x", "type": "money"}])
    content = owner_client.get(artifact.get_absolute_url()).content.decode()
    assert "its parameter declarations are invalid" in content
    assert "type &#x27;money&#x27; is not one of" in content
    response = owner_client.post(run_url(artifact), {"x": "1"}, headers=HTMX)
    assert response.status_code == 422
    assert "its parameter declarations are invalid" in response.content.decode()
    assert not ArtifactRun.objects.exists()


# --- Failed runs -----------------------------------------------------------------------------


def test_rejected_sql_is_refused_in_plain_words_and_fails_the_artifact(owner_client, shop, owner):
    before = sample.sqlite_fingerprint(shop)
    artifact = ArtifactFactory(owner=owner, title="Cleanup")
    # Past the save-time check, as a bulk tool could store it.
    Artifact.objects.filter(pk=artifact.pk).update(sql_query="DELETE FROM orders")
    response = owner_client.post(run_url(artifact), headers=HTMX)
    assert response.status_code == 200
    content = response.content.decode()
    assert "The query was refused: only a single read-only statement may run." in content
    assert "DELETE" in content
    assert (
        '<span class="badge text-bg-danger" id="artifact-status" hx-swap-oob="true">Failed'
        in content
    )
    assert "The artifact's status is now" in content
    assert 'id="artifact-last-error"' in content  # the statistics card says why
    assert 'data-outcome="rejected"' in content
    assert sample.sqlite_fingerprint(shop) == before
    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.FAILED
    assert ArtifactRun.objects.get().outcome == ArtifactRun.Outcome.REJECTED


def test_a_runaway_query_times_out_and_fails_the_artifact(owner_client, shop, settings, owner):
    # No longer limit for background runs: the page's run stays the only one (the switch
    # to the background is tests/llm_artifact/test_background_jobs.py's).
    settings.DATA_SOURCES = f"marketplace=sqlite:///{shop}?timeout=0.2&background_timeout=0.2"
    artifact = ArtifactFactory(owner=owner, sql_query=RUNAWAY)
    response = owner_client.post(run_url(artifact), headers=HTMX)
    content = response.content.decode()
    assert response.status_code == 200
    assert "The query took too long and was stopped." in content
    assert "0.2 s limit" in content
    assert 'id="artifact-status" hx-swap-oob="true">Failed' in content
    assert '<span class="badge text-bg-warning">Timed out</span>' in content
    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.FAILED
    assert ArtifactRun.objects.get().outcome == ArtifactRun.Outcome.TIMEOUT


def test_a_failing_query_shows_the_database_error(owner_client, shop, owner):
    artifact = ArtifactFactory(owner=owner, sql_query="SELECT nope FROM orders")
    content = owner_client.post(run_url(artifact), headers=HTMX).content.decode()
    assert "The query failed." in content
    assert "no such column: nope" in content


def test_a_good_run_brings_a_failed_artifact_back(owner_client, artifact):
    Artifact.objects.filter(pk=artifact.pk).update(status="failed", last_error="old")
    content = owner_client.post(run_url(artifact), {"minimum": "1"}, headers=HTMX).content
    assert 'id="artifact-status" hx-swap-oob="true">Active' in content.decode()
    assert "The last run failed" not in content.decode()


# --- Run history -----------------------------------------------------------------------------


def test_history_shows_the_latest_ten_runs_with_who_and_what(owner_client, artifact, owner):
    analyst = UserFactory(username="analyst")
    for n in range(12):
        artifact.record_run(
            user=analyst if n == 11 else owner,
            outcome="ok" if n % 3 else "error",
            started_at=artifact.created_at,
            params={"since": "2024-01-01", "minimum": float(n)},
            duration_ms=1500 if n == 11 else 4.25,
            row_count=n,
            truncated=n == 11,
            error="" if n % 3 else f"boom {n}",
        )
    content = owner_client.get(artifact.get_absolute_url()).content.decode()
    history = content.split('id="artifact-run-history"', 1)[1].split("</section>", 1)[0]
    assert history.count('class="history-row"') == 10
    assert "minimum=11.0" in history and "minimum=2.0" in history
    assert "minimum=1.0" not in history  # the oldest two are left out
    assert ">analyst</td>" in history
    assert '<td class="cell-num">11+</td>' in history  # truncated
    assert ">1.5 s</td>" in history and ">4.2 ms</td>" in history
    assert '<span class="badge text-bg-danger">Failed</span>' in history
    assert "boom 9" in history


def test_a_page_without_runs_says_so(owner_client, artifact):
    assert "No runs yet." in owner_client.get(artifact.get_absolute_url()).content.decode()


@pytest.mark.parametrize("runs", [3, 30])
def test_detail_page_runs_a_fixed_number_of_queries(
    owner_client, artifact, owner, runs, django_assert_max_num_queries
):
    for n in range(runs):
        artifact.record_run(
            user=UserFactory(), outcome="ok", started_at=artifact.created_at, params={"n": n}
        )
    MessageFactory(
        chat=ChatFactory(owner=owner),
        role=Message.Role.ASSISTANT,
        artifact=artifact,
        artifact_action=Message.ArtifactAction.CREATED,
    )
    # Session, user, the artifact with its owner/agent/chat, the message it was created
    # in, the user's groups and the data-source grants (what the page offers them: edit,
    # share), the latest run's kept rows (the page opens on them) and the latest runs
    # with their users, and the user's background runs and exports of it.
    with django_assert_max_num_queries(9):
        response = owner_client.get(artifact.get_absolute_url())
    assert response.content.decode().count('class="history-row"') == min(runs, 10)


@pytest.mark.parametrize("runs", [3, 30])
def test_a_shared_detail_page_runs_a_fixed_number_of_queries(
    client, artifact, runs, team, editors, group_viewer, django_assert_max_num_queries
):
    share(artifact, team, editors, edit=[editors])
    for n in range(runs):
        artifact.record_run(
            user=UserFactory(), outcome="ok", started_at=artifact.created_at, params={"n": n}
        )
    client.force_login(group_viewer)
    # As for the owner, plus the artifact's shares: once for the viewer's right to edit,
    # once for the Details panel's list of groups.
    with django_assert_max_num_queries(11):
        response = client.get(artifact.get_absolute_url())
    assert response.content.decode().count('class="history-row"') == min(runs, 10)


def test_detail_links_to_the_data_source_schema(owner_client, artifact):
    content = owner_client.get(artifact.get_absolute_url()).content.decode()
    schema_url = reverse("datasources:data_source_detail", args=["marketplace"])
    assert f'<a href="{schema_url}" id="artifact-data-source-link"' in content


def test_an_unconfigured_data_source_is_not_linked(owner_client, artifact):
    Artifact.objects.filter(pk=artifact.pk).update(data_source="gone")
    content = owner_client.get(artifact.get_absolute_url()).content.decode()
    assert "/data-sources/gone/" not in content
    assert "<code>gone</code>" in content


# --- The chat card ---------------------------------------------------------------------------


@pytest.fixture
def card(shop: Path, owner):
    chat = ChatFactory(owner=owner, title="Orders")
    artifact = ArtifactFactory(owner=owner, chat=chat, title="Fifteen", sql_query=FIFTEEN)
    MessageFactory(
        chat=chat,
        role=Message.Role.ASSISTANT,
        artifact=artifact,
        artifact_action=Message.ArtifactAction.CREATED,
    )
    return chat, artifact


def test_chat_card_offers_a_run_button(owner_client, card):
    chat, artifact = card
    content = owner_client.get(chat.get_absolute_url()).content.decode()
    assert f'method="post" action="{card_run_url(artifact)}"' in content
    assert f'hx-post="{card_run_url(artifact)}" hx-target="closest .artifact-card"' in content
    assert '<input type="hidden" name="action" value="created">' in content


def test_card_run_with_htmx_shows_the_first_rows_inline(owner_client, card):
    _, artifact = card
    response = owner_client.post(card_run_url(artifact), {"action": "created"}, headers=HTMX)
    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<section class="artifact-card card')
    assert f'id="artifact-card-run-{artifact.pk}"' in content
    assert "Created</span> artifact" in content  # the caption survives the swap
    rows = result_rows(content)
    assert rows[:3] == ["1|1.50", "2|NULL", "3|4.50"]
    assert len(rows) == 10
    assert "First 10 of 15 rows" in content
    assert '<td class="cell-null"><span class="null-badge">NULL</span></td>' in content
    assert '<td class="cell-num">4.50</td>' in content
    assert "1 run</span>" in content  # the card's statistics are fresh
    assert ArtifactRun.objects.get().row_count == 15


def test_card_run_ignores_an_unknown_caption(owner_client, card):
    _, artifact = card
    content = owner_client.post(card_run_url(artifact), {"action": "<b>"}, headers=HTMX)
    assert "artifact-action" not in content.content.decode()


def test_card_run_without_javascript_runs_and_goes_to_the_artifact(owner_client, card):
    _, artifact = card
    response = owner_client.post(card_run_url(artifact))
    assert response.status_code == 302
    assert response.url == f"{artifact.get_absolute_url()}#artifact-run-panel"
    assert ArtifactRun.objects.get().outcome == ArtifactRun.Outcome.OK
    followed = owner_client.get(response.url).content.decode()
    assert "Ran “Fifteen” with its default values: 15 rows." in followed
    assert 'class="history-row" data-outcome="ok"' in followed


def test_card_run_failure_shows_the_error_in_the_card(owner_client, card):
    _, artifact = card
    Artifact.objects.filter(pk=artifact.pk).update(sql_query="SELECT nope FROM orders")
    content = owner_client.post(card_run_url(artifact), headers=HTMX).content.decode()
    assert "The query failed." in content
    assert "no such column: nope" in content
    assert "accent-danger" in content  # the card now wears the failed status
    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.FAILED


def test_card_run_of_an_artifact_needing_values_links_to_its_page(owner_client, artifact):
    content = owner_client.post(card_run_url(artifact), headers=HTMX).content.decode()
    assert "It needs a value for Minimum total." in content
    assert f'href="{artifact.get_absolute_url()}#artifact-run-panel"' in content
    assert not ArtifactRun.objects.exists()


def test_card_run_needing_values_without_javascript_says_so_on_the_page(owner_client, artifact):
    response = owner_client.post(card_run_url(artifact))
    assert response.status_code == 302
    followed = owner_client.get(response.url).content.decode()
    assert "needs values for Minimum total" in followed
    assert not ArtifactRun.objects.exists()


def test_staff_can_run_a_card_in_someone_elses_chat(client, staff, card):
    _, artifact = card
    client.force_login(staff)
    assert client.post(card_run_url(artifact), headers=HTMX).status_code == 200
    assert ArtifactRun.objects.get().user == staff

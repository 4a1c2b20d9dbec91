"""`manage.py eval_agent`: the shipped questions' known SQL runs on the demo marketplace, the
scoring tells right from wrong (and why), and the command runs end to end against a scripted
provider on loopback that answers some questions with the known SQL and others wrongly."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from apps.datasources import demo
from apps.datasources.executor import execute
from apps.llm_agent.models import EvalAnswer, EvalRun, ModelCall
from apps.llm_chat.eval.runner import DEFAULT_QUESTIONS, LEVELS, load_questions
from apps.llm_chat.eval.scoring import Result, score
from tests.fakes.llm_server import FakeLLMServer, call, say
from tests.llm_agent.factories import AgentFactory
from tests.llm_artifact.factories import ArtifactFactory

Verdict = EvalAnswer.Verdict
QUESTIONS = load_questions()
GOLD = {q.id: q.sql for q in QUESTIONS.questions}


@pytest.fixture(scope="module")
def marketplace_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("eval") / "marketplace.sqlite3"
    demo.write_sqlite(demo.build_dataset(0.01, today=dt.date(2025, 11, 26)), path)
    return path


@pytest.fixture
def marketplace(marketplace_file, settings, db):
    settings.DATA_SOURCES = f"marketplace=sqlite:///{marketplace_file}"
    settings.LLM_REQUEST_TIMEOUT_SECONDS = 5
    return marketplace_file


# --- the questions ----------------------------------------------------------------------


def test_ships_at_least_30_questions_from_easy_to_hard():
    assert len(QUESTIONS.questions) >= 30
    assert QUESTIONS.data_source == "marketplace"
    levels = {q.level for q in QUESTIONS.questions}
    assert levels == set(LEVELS)


def test_every_known_sql_runs_on_the_demo_marketplace_and_returns_rows(marketplace):
    for question in QUESTIONS.questions:
        result = execute("marketplace", question.sql)
        assert result.rows, question.id
        assert any(value is not None for value in result.rows[0]), question.id


# --- the scoring --------------------------------------------------------------------------

GOLD_RESULT = Result(["status", "orders"], [("paid", 3), ("cancelled", 1), ("new", 2)])


@pytest.mark.parametrize(
    ("agent", "verdict"),
    [
        (Result(["status", "n"], [("new", 2), ("paid", 3), ("cancelled", 1)]), Verdict.CORRECT),
        (  # columns in another order, and an extra one
            Result(
                ["n", "share", "s"],
                [(1, 0.1, "cancelled"), (2, 0.3, "new"), (3.0, 0.6, "paid")],
            ),
            Verdict.CORRECT,
        ),
        (Result(["status", "n"], []), Verdict.EMPTY),
        (Result(["status", "n"], [("paid", 3), ("new", 2)]), Verdict.MISSING_ROWS),
        (
            Result(["status", "n"], [("paid", 3), ("new", 2), ("cancelled", 1), ("x", 9)]),
            Verdict.EXTRA_ROWS,
        ),
        (
            Result(["status", "n"], [("paid", 4), ("new", 2), ("cancelled", 1)]),
            Verdict.DIFFERENT_VALUES,
        ),
        (Result(["n"], [(3,), (2,), (1,)]), Verdict.DIFFERENT_VALUES),
    ],
)
def test_scoring_compares_rows(agent, verdict):
    assert score(GOLD_RESULT, agent).verdict == verdict


def test_scoring_says_when_there_is_no_sql_or_it_failed():
    assert score(GOLD_RESULT, None).verdict == Verdict.NO_SQL
    failed = score(GOLD_RESULT, None, error="no such column: nope")
    assert (failed.verdict, failed.detail) == (Verdict.ERROR, "no such column: nope")


def test_numbers_compare_across_types_and_rounding():
    gold = Result(["revenue"], [(1234.5,)])
    assert score(gold, Result(["r"], [("1234.50",)])).correct
    assert score(gold, Result(["r"], [(1234.504,)])).correct
    assert not score(gold, Result(["r"], [(1234.6,)])).correct


# --- the command, against a scripted provider ---------------------------------------------

# How the scripted model answers some questions; every other one gets its known SQL.
WRONG = {
    "orders-count": None,  # answers without SQL
    "customers-count": "SELECT nope FROM customers",  # an error
    "orders-by-status": (
        "SELECT status, COUNT(*) AS orders FROM orders WHERE status = 'delivered' GROUP BY status"
    ),  # missing rows
    "cancelled-orders": "SELECT COUNT(*) AS n FROM orders GROUP BY status HAVING 0",  # empty
    "top-level-categories": "SELECT name FROM categories",  # extra rows
    "avg-review-rating": "SELECT ROUND(AVG(rating), 1) AS r FROM reviews",  # different values
}
# Right, in another shape: columns swapped and one more.
RESHAPED = {
    "customers-by-country": (
        "SELECT COUNT(*) AS n, country, 'x' AS extra FROM customers GROUP BY country"
    ),
}
SAVED = {"sellers-count"}  # answered by saving an artifact rather than by run_sql alone
EXPECTED_CORRECT = len(QUESTIONS.questions) - len(WRONG)


def scripted_reply(body: dict):
    """The scripted model: one SQL for the question, then a short answer."""
    messages = body["messages"]
    if messages[-1]["role"] == "tool":
        return say("Here is the answer.")
    question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    question = question if isinstance(question, str) else question[0]["text"]
    qid = next(q.id for q in QUESTIONS.questions if q.question == question)
    sql = RESHAPED.get(qid, WRONG.get(qid, GOLD[qid]))
    if sql is None:
        return say("I cannot tell.")
    if qid in SAVED:
        return call("save_artifact", {"title": "Sellers", "sql": sql, "description": "Count."})
    return call("run_sql", {"sql": sql})


@pytest.fixture
def scripted_agent(marketplace, staff):
    with FakeLLMServer("openai", default=scripted_reply) as server:
        yield AgentFactory(name="Scripted analyst", base_url=server.base_url)


def eval_agent(*args: str) -> str:
    out = StringIO()
    call_command("eval_agent", "--agent", "Scripted analyst", "--user", "staff", *args, stdout=out)
    return out.getvalue()


def test_scores_the_scripted_agent_prints_the_table_and_stores_the_run(scripted_agent):
    output = eval_agent("--floor", "0.6")

    total = len(QUESTIONS.questions)
    assert f"Accuracy: {EXPECTED_CORRECT}/{total}" in output
    for qid, verdict in [
        ("orders-count", "no_sql"),
        ("customers-count", "error"),
        ("orders-by-status", "missing_rows"),
        ("cancelled-orders", "empty"),
        ("top-level-categories", "extra_rows"),
        ("avg-review-rating", "different_values"),
    ]:
        question = next(q for q in QUESTIONS.questions if q.id == qid)
        row = next(line for line in output.splitlines() if question.question[:40] in line)
        assert verdict in row, row
    run = EvalRun.objects.get()
    assert (run.agent, run.total, run.correct, run.with_library) == (
        scripted_agent,
        total,
        EXPECTED_CORRECT,
        True,
    )
    answers = {a.question_id: a for a in run.answers.all()}
    assert answers["customers-by-country"].verdict == Verdict.CORRECT
    assert answers["sellers-count"].sql_source == "save_artifact"
    assert answers["sellers-count"].verdict == Verdict.CORRECT
    assert answers["customers-count"].detail  # the error the SQL met
    assert "No earlier run" in output


def test_exits_non_zero_below_the_floor_and_names_what_changed_since_the_previous_run(
    scripted_agent, monkeypatch
):
    eval_agent("--floor", "0")
    monkeypatch.delitem(WRONG, "avg-review-rating")  # the agent now gets this one right
    out = StringIO()
    with pytest.raises(CommandError, match="below the floor of 90%") as failed:
        call_command(
            "eval_agent",
            "--agent",
            "Scripted analyst",
            "--user",
            "staff",
            "--floor",
            "0.9",
            stdout=out,
        )
    assert failed.value.returncode == 1
    output = out.getvalue()
    assert f"Accuracy: {EXPECTED_CORRECT + 1}/{len(QUESTIONS.questions)}" in output
    assert "change +3.1 points" in output
    assert "Now correct: avg-review-rating" in output
    latest, first = EvalRun.objects.all()
    assert latest.previous() == first and first.previous() is None


def test_a_run_with_the_library_compares_with_one_without(scripted_agent):
    eval_agent("--floor", "0", "--without-library")
    assert EvalRun.objects.get().with_library is False
    output = eval_agent("--floor", "0")
    assert "without the library): " in output
    assert "change +0.0 points" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agent", "Nobody"], "No agent named 'Nobody'"),
        (["--agent", "Scripted analyst", "--floor", "2"], "--floor"),
        (["--agent", "Scripted analyst", "--questions", "/nonexistent.json"], "Cannot read"),
        (["--agent", "Scripted analyst", "--user", "ghost"], "No active user named 'ghost'"),
    ],
)
def test_bad_arguments_are_clear_errors(scripted_agent, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("eval_agent", *args, stdout=StringIO())
    assert not EvalRun.objects.exists()


def test_a_questions_file_whose_sql_fails_is_refused_before_any_model_call(
    scripted_agent, tmp_path
):
    path = tmp_path / "broken.json"
    path.write_text(
        json.dumps({"questions": [{"id": "x", "question": "Q?", "sql": "SELECT * FROM nope"}]})
    )
    with pytest.raises(CommandError, match="known SQL of 'x' fails"):
        eval_agent("--questions", str(path))
    assert not EvalRun.objects.exists()


def test_a_data_source_that_is_not_configured_is_a_clear_error(scripted_agent, settings):
    settings.DATA_SOURCES = "elsewhere=sqlite:///nowhere.sqlite3"
    with pytest.raises(CommandError, match="Unknown data source 'marketplace'"):
        eval_agent()
    assert not EvalRun.objects.exists()


def test_default_questions_file_is_the_shipped_one():
    assert DEFAULT_QUESTIONS.name == "marketplace.json" and DEFAULT_QUESTIONS.exists()


# --- the admin ----------------------------------------------------------------------------


def stored_run(agent) -> EvalRun:
    run = EvalRun.objects.create(
        agent=agent,
        questions_file="marketplace.json",
        model_name="gpt-x",
        started_at=timezone.now(),
        total=2,
        correct=1,
    )
    for position, verdict in enumerate([Verdict.CORRECT, Verdict.MISSING_ROWS], 1):
        EvalAnswer.objects.create(
            run=run,
            position=position,
            question_id=f"q{position}",
            level="easy",
            question=f"Question {position}?",
            gold_sql="SELECT 1",
            agent_sql="SELECT 1",
            verdict=verdict,
            detail="1 of 2 rows missing." if verdict != Verdict.CORRECT else "",
        )
    return run


def test_the_admin_lists_runs_read_only_with_their_answers(staff_client, db):
    run = stored_run(AgentFactory(name="Listed analyst"))

    listing = staff_client.get(reverse("admin:llm_agent_evalrun_changelist"))
    assert listing.status_code == 200
    assert "Listed analyst" in listing.text and "1/2 (50%)" in listing.text

    page = staff_client.get(reverse("admin:llm_agent_evalrun_change", args=[run.pk]))
    assert page.status_code == 200
    assert "1 of 2 rows missing." in page.text
    assert 'name="_save"' not in page.text  # read-only: nothing to save
    assert staff_client.get(reverse("admin:llm_agent_evalrun_add")).status_code == 403


def test_the_model_call_admin_shows_the_examples_a_call_was_given(staff_client, db):
    agent = AgentFactory(name="Logged analyst")
    call_row = ModelCall.objects.create(
        agent=agent,
        model_name="gpt-x",
        provider=agent.provider,
        started_at=timezone.now(),
        latency_ms=5,
        outcome="ok",
        library_examples=[{"id": 7, "title": "Revenue by category"}],
    )
    page = staff_client.get(reverse("admin:llm_agent_modelcall_change", args=[call_row.pk]))
    assert page.status_code == 200
    assert "Revenue by category" in page.text


# --- what the library is worth -------------------------------------------------------------


def copy_a_verified_example(body: dict):
    """A model that only knows what its instructions show: it runs the SQL of a verified
    example when it was given one, and guesses (wrongly) otherwise."""
    messages = body["messages"]
    if messages[-1]["role"] == "tool":
        return say("Here is the answer.")
    instructions = "\n".join(m["content"] for m in messages if m["role"] in ("system", "developer"))
    if "Verified queries" in instructions:
        sql = instructions.split("SQL:\n", 1)[1].split("\n\n", 1)[0]
        return call("run_sql", {"sql": sql})
    return call("run_sql", {"sql": "SELECT 0 AS guess"})


def test_verified_examples_raise_the_accuracy_of_a_model_that_uses_them(
    marketplace, staff, tmp_path
):
    chosen = [q for q in QUESTIONS.questions if q.id in {"sellers-count", "revenue-by-country"}]
    path = tmp_path / "two.json"
    path.write_text(
        json.dumps(
            {
                "data_source": "marketplace",
                "questions": [
                    {"id": q.id, "level": q.level, "question": q.question, "sql": q.sql}
                    for q in chosen
                ],
            }
        )
    )
    # The library knows the first question only.
    known = ArtifactFactory(
        owner=staff, title="Sellers on the marketplace", sql_query=chosen[0].sql
    )
    known.verify(staff, question=chosen[0].question)

    with FakeLLMServer("openai", default=copy_a_verified_example) as server:
        AgentFactory(name="Scripted analyst", base_url=server.base_url)
        without = eval_agent("--questions", str(path), "--floor", "0", "--without-library")
        with_library = eval_agent("--questions", str(path), "--floor", "0")

    assert "Accuracy: 0/2" in without
    assert "Accuracy: 1/2" in with_library
    assert "change +50.0 points" in with_library
    assert "Now correct: sellers-count" in with_library
    answer = EvalAnswer.objects.get(run__with_library=True, question_id="sellers-count")
    assert answer.library_examples == [{"id": known.pk, "title": "Sellers on the marketplace"}]


@pytest.mark.postgres
def test_every_known_sql_gives_the_same_rows_on_postgresql(
    marketplace_file, postgres_database, settings, db
):
    demo.write_postgresql(demo.build_dataset(0.01, today=dt.date(2025, 11, 26)), postgres_database)
    # The throwaway database belongs to the test server's superuser, which the executor
    # refuses unless told otherwise.
    settings.DATA_SOURCES = (
        f"lite=sqlite:///{marketplace_file} pg={postgres_database}?allow_privileged=true"
    )
    for question in QUESTIONS.questions:
        lite = execute("lite", question.sql)
        pg = execute("pg", question.sql)
        verdict = score(
            Result([c.name for c in lite.columns], lite.rows),
            Result([c.name for c in pg.columns], pg.rows),
        )
        assert verdict.correct, (question.id, verdict.detail)

"""The agent's write_report tool, driven by a scripted model: it refuses numbers of the
model's own, unknown artifacts and malformed blocks, runs every block before saving, and
the chat shows the report's card."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_chat.agent import ArtifactSaved, run_turn_sync
from apps.llm_chat.models import Message
from apps.llm_chat.services import post_user_message
from tests.datasources import sample
from tests.fakes.scripted import Call, Say, ScriptedModel, tool_text
from tests.llm_artifact.factories import BAR, ArtifactFactory
from tests.llm_artifact.test_report_render import STATUS_PARAM, STATUS_SQL, TOTAL_SQL
from tests.llm_chat.factories import ChatFactory


@pytest.fixture
def shop(tmp_path, settings):
    """The sample shop the report tests count on (tests/datasources/sample.py)."""
    return sample.use_sqlite(tmp_path, settings)


@pytest.fixture
def chat(owner, shop):
    return ChatFactory(owner=owner)


@pytest.fixture
def queries(chat):
    chart = ArtifactFactory(
        owner=chat.owner, title="Orders by status", sql_query=STATUS_SQL, visualization_config=BAR
    )
    totals = ArtifactFactory(
        owner=chat.owner, title="Paid totals", sql_query=TOTAL_SQL, query_params=STATUS_PARAM
    )
    return chart, totals


def ask(chat, script: ScriptedModel):
    message = post_user_message(chat, content="Write a summary of the orders")
    outcome = run_turn_sync(chat, message, model=script.model)
    # A step's failed assertion ends the turn in error: the test fails here, not silently.
    assert outcome.reply.status == Message.Status.COMPLETE, outcome.reply.error
    return outcome


def good_text(chart, totals) -> str:
    return (
        "## Orders\n\nPaid orders came to "
        f"{{{{ value {totals.pk} column=orders :status=paid }}}}, worth "
        f"{{{{ value {totals.pk} column=revenue }}}}.\n\n"
        f"```artifact {chart.pk} show=chart\n```\n"
    )


def test_the_agent_writes_a_report_whose_blocks_ran_in_the_turn(chat, queries):
    chart, totals = queries

    def read(messages):
        text = tool_text(messages)
        assert text.startswith("Wrote report #")
        assert f"value of #{totals.pk} “Paid totals” (orders, row 1): 4" in text
        assert f"value of #{totals.pk} “Paid totals” (revenue, row 1): 699.25" in text
        return Say("Here is the report.")

    script = ScriptedModel(
        Call(
            "write_report",
            {"title": "Orders summary", "markdown": good_text(chart, totals)},
        ),
        read,
    )
    outcome = ask(chat, script)

    report = Artifact.objects.get(artifact_type="report")
    assert (report.owner, report.chat, report.data_source) == (chat.owner, chat, "marketplace")
    assert ArtifactSaved(report.pk, "created", "Orders summary") in outcome.events
    reply = outcome.reply
    assert (reply.status, reply.artifact) == (Message.Status.COMPLETE, report)
    # Each artifact ran once, in this turn, with the blocks' values.
    assert sorted(ArtifactRun.objects.values_list("artifact__title", flat=True)) == [
        "Orders by status",
        "Paid totals",
    ]
    # The chat shows the report's card, which opens it; the report shows the numbers.
    client = Client()
    client.force_login(chat.owner)
    page = client.get(chat.get_absolute_url())
    assert "Open the report" in page.text and report.get_absolute_url() in page.text
    opened = client.get(report.get_absolute_url())
    assert ">4</span>" in opened.text and ">699.25</span>" in opened.text


def test_numbers_in_the_models_own_words_are_refused(chat, queries):
    chart, totals = queries

    def fix(messages):
        text = tool_text(messages)
        assert text.startswith("Nothing was saved.")
        assert "The text has numbers of its own (12, 3)" in text
        return Call("write_report", {"title": "Fixed", "markdown": good_text(chart, totals)})

    script = ScriptedModel(
        Call(
            "write_report",
            {"title": "Bad", "markdown": good_text(chart, totals) + "\nUp 12% in 3 weeks."},
        ),
        fix,
        Say("Done."),
    )
    ask(chat, script)
    assert list(
        Artifact.objects.filter(artifact_type="report").values_list("title", flat=True)
    ) == ["Fixed"]


def test_unknown_or_hidden_artifacts_and_bad_blocks_are_refused(chat, queries, other_user):
    hidden = ArtifactFactory(owner=other_user, sql_query=STATUS_SQL)

    def check_hidden(messages):
        assert f"No SQL artifact #{hidden.pk} on this data source" in tool_text(messages)
        return Call("write_report", {"title": "T", "markdown": "```artifact show=pie\n```"})

    def check_block(messages):
        assert "Line 1: say which artifact" in tool_text(messages)
        return Say("Sorry.")

    script = ScriptedModel(
        Call("write_report", {"title": "T", "markdown": f"```artifact {hidden.pk}\n```"}),
        check_hidden,
        check_block,
    )
    ask(chat, script)
    assert not Artifact.objects.filter(artifact_type="report").exists()
    assert not ArtifactRun.objects.exists()


def test_a_failing_run_refuses_the_report(chat, queries):
    _chart, totals = queries
    markdown = f"Total: {{{{ value {totals.pk} :status=nope :extra=x }}}}."

    def check(messages):
        text = tool_text(messages)
        assert "Nothing was saved: these blocks did not run." in text
        assert "Unknown parameter 'extra'" in text
        return Say("Sorry.")

    ask(chat, ScriptedModel(Call("write_report", {"title": "T", "markdown": markdown}), check))
    assert not Artifact.objects.filter(artifact_type="report").exists()


def test_the_agent_rewrites_its_own_report_only(chat, queries, owner):
    chart, totals = queries
    elsewhere = ArtifactFactory(
        owner=owner, artifact_type="report", sql_query="", document={"markdown": "Words."}
    )

    def rewrite(messages):
        # Steps run in the event loop, away from the database: the id is in the tool's text.
        report_id = int(re.match(r"Wrote report #(\d+)", tool_text(messages)).group(1))
        return Call(
            "write_report",
            {"title": "Second", "markdown": good_text(chart, totals), "report_id": report_id},
        )

    def other(messages):
        assert tool_text(messages).startswith("Rewrote report #")
        return Call(
            "write_report",
            {"title": "X", "markdown": good_text(chart, totals), "report_id": elsewhere.pk},
        )

    def done(messages):
        assert "is out of reach" in tool_text(messages)
        return Say("Done.")

    script = ScriptedModel(
        Call("write_report", {"title": "First", "markdown": good_text(chart, totals)}),
        rewrite,
        other,
        done,
    )
    ask(chat, script)
    titles = set(Artifact.objects.filter(artifact_type="report").values_list("title", flat=True))
    assert titles == {"Second", elsewhere.title}

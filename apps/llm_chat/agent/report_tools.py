"""The agent's report tool: write_report, the report type's agent tool
(apps/llm_artifact/types/report.py names it).

What is enforced, so that every number a reader sees in an agent's report comes from a query
and not from the model's memory:

- The report's prose (everything outside its blocks and inline values) may hold no digit
  (an ordered list's item numbers aside): a report with "revenue grew 12%" in its words is
  refused, and the model is told to write the number as an inline value
  ({{ value 12 column=growth }}) of an artifact that computes it. (The title is not
  checked: "Sales in 2026" is a name, not a finding.)
- Every block and value must name an SQL artifact the chat's owner may see on the agent's
  data source, with parameter values that artifact accepts.
- The tool itself runs each of those artifacts with the blocks' values, in this turn,
  before it saves: the report opens on these runs, so the numbers shown are those of runs
  made while writing it. A run that fails refuses the report (nothing is saved).

The numbers stay live: a reader's Re-run runs the artifacts again and the text follows.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import transaction
from pydantic_ai import RunContext, Tool, ToolReturn

from apps.llm_artifact.models import Artifact
from apps.llm_artifact.reports.blocks import parse_report, prose_numbers, validate_report_markdown
from apps.llm_artifact.reports.render import (
    artifact_key,
    cell_value,
    referenced_artifacts,
    rerun_report,
    resolve,
)
from apps.llm_chat.agent.tools import TurnDeps
from apps.llm_chat.models import Message

REPORT = "report"


def _refused(text: str, activity: str) -> ToolReturn:
    return ToolReturn(return_value=text, metadata={"ok": False, "activity": activity})


def _problems(deps: TurnDeps, markdown: str) -> str:
    """Why this text cannot be the report ("" when it can)."""
    try:
        parsed = validate_report_markdown(markdown)
    except ValidationError as exc:
        return "\n".join(f"- {message}" for message in exc.messages)
    if not parsed.refs:
        return (
            "- The report embeds no artifact: add at least one ```artifact ID``` block or "
            "{{ value ID }} value."
        )
    numbers = prose_numbers(parsed)
    if numbers:
        shown = ", ".join(dict.fromkeys(numbers))
        return (
            f"- The text has numbers of its own ({shown}). Every number in a report comes "
            "from an artifact: write it as {{ value ID column=NAME row=N }} (an artifact "
            "that computes it, saved first), or in words without digits."
        )
    found = referenced_artifacts(parsed, deps.owner)
    missing = sorted(
        {
            str(artifact_key(ref))
            for ref in parsed.refs
            if artifact_key(ref) not in found
            or found[artifact_key(ref)].data_source != deps.data_source
        }
    )
    if missing:
        return (
            f"- No SQL artifact #{', #'.join(missing)} on this data source. Save the query "
            "with save_artifact first, or find one with search_artifacts."
        )
    return ""


def _written(deps: TurnDeps, report_id: int | None, fields: dict) -> Artifact | str:
    """Save the report after running each of its artifacts; or say what to fix."""
    problems = _problems(deps, fields["document"]["markdown"])
    if problems:
        return f"Nothing was saved. Fix these and call write_report again:\n{problems}"
    if report_id is None:
        report = Artifact(
            owner=deps.owner,
            chat=deps.chat,
            agent=deps.agent,
            data_source=deps.data_source,
            artifact_type=REPORT,
        )
        action = Message.ArtifactAction.CREATED
    else:
        report = Artifact.objects.filter(pk=report_id, chat=deps.chat, artifact_type=REPORT).first()
        if report is None:
            return (
                f"Report #{report_id} is out of reach: you can only rewrite reports written in "
                "this chat. Leave report_id out to write a new one."
            )
        action = Message.ArtifactAction.UPDATED
    for name, value in fields.items():
        setattr(report, name, value)
    try:
        report.full_clean()
    except ValidationError as exc:
        lines = [f"- {m}" for messages in exc.message_dict.values() for m in messages]
        return "Nothing was saved. Fix these and call write_report again:\n" + "\n".join(lines)
    outcome = rerun_report(fields["document"]["markdown"], deps.owner)
    if outcome.problems:
        failed = "\n".join(f"- {problem}" for problem in outcome.problems)
        return f"Nothing was saved: these blocks did not run.\n{failed}"
    with transaction.atomic():
        report.save()
        deps.message.link_artifact(report, action)
    return report


def _what_it_shows(report: Artifact, deps: TurnDeps) -> str:
    """The values and blocks as the report now shows them, for the model's reply."""
    lines = []
    for item in resolve(parse_report(report.document["markdown"]), deps.owner):
        ref, title = item.ref, item.artifact.title
        if ref.kind == "value":
            value, problem = cell_value(item)
            column = ref.column or "first column"
            lines.append(
                f"- value of #{item.artifact.pk} “{title}” ({column}, row {ref.row}): "
                f"{value or problem}"
            )
        else:
            rows = item.run.row_count if item.run else 0
            lines.append(f"- {ref.show or 'block'} of #{item.artifact.pk} “{title}”: {rows} rows")
    return "\n".join(lines)


def _reply(outcome: Artifact | str, deps: TurnDeps, verb: str) -> ToolReturn:
    if isinstance(outcome, str):
        return _refused(outcome, f"Report not {verb.lower()}")
    text = (
        f"{verb} report #{outcome.pk} “{outcome.title}”; a card in the chat opens it. Its "
        f"blocks ran just now and show:\n{_what_it_shows(outcome, deps)}\n"
        "In your reply, point the user to the report; do not repeat numbers in your own words."
    )
    return ToolReturn(
        return_value=text,
        metadata={
            "ok": True,
            "activity": f"{verb} report “{outcome.title}”",
            "artifact_id": outcome.pk,
            "action": (
                Message.ArtifactAction.CREATED
                if verb == "Wrote"
                else Message.ArtifactAction.UPDATED
            ).value,
            "title": outcome.title,
        },
    )


async def write_report(
    ctx: RunContext[TurnDeps],
    title: str,
    markdown: str,
    description: str = "",
    report_id: int | None = None,
) -> ToolReturn:
    """Write a report: a short Markdown document whose numbers, tables and charts are live
    blocks of saved SQL artifacts (save the queries with save_artifact first).

    Embed an artifact as a chart or a table with a fenced block on lines of its own:

        ```artifact 12 show=chart :start_date="start_of_month -1 month"
        ```

    (show=table rows=10 for a table), and a single number inside a sentence with
    {{ value 12 column=revenue row=1 }}. Parameters are :name=value (quote values with
    spaces); left out, they take their defaults.

    Rules: the text may contain no digits of its own. Every number the reader sees must be
    a block or an inline value, so it comes from a query run now, not from memory. Each
    artifact is run with its values when you call this; a failing run refuses the report.

    Args:
        title: The report's name, e.g. "Sales last month".
        markdown: The text with its blocks and values.
        description: One sentence on what the report covers.
        report_id: To rewrite a report you wrote earlier in this chat; leave out for a new one.
    """
    fields = {
        "title": title.strip(),
        "description": description.strip(),
        "document": {"markdown": markdown.replace("\r\n", "\n")},
    }
    outcome = await sync_to_async(_written)(ctx.deps, report_id, fields)
    verb = "Wrote" if report_id is None else "Rewrote"
    if isinstance(outcome, str):
        return _reply(outcome, ctx.deps, verb)
    return await sync_to_async(_reply)(outcome, ctx.deps, verb)


WRITE_REPORT = Tool(write_report, takes_ctx=True, sequential=True)

"""The instructions every agent gets on top of its own system prompt."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.utils import timezone

from apps.llm_agent.models import Agent
from apps.llm_artifact.models import Artifact
from apps.llm_chat.agent.tools import SQL_ROW_CAP, parameter_text

WORKFLOW = """\
You answer questions about the data source "{data_source}" by writing {dialect} SQL.
Today is {today}.

Work like this:
1. {library_step}
2. Call list_tables, and describe_table where you need detail. Never guess table or column names.
3. Call run_sql to try your query; it shows at most {row_cap} rows. If it fails, read the error,
   fix the SQL and try again.
4. When a query answers the question, call save_artifact once with a short title, the SQL, a
   one-sentence description and typed parameters for values a person may want to change
   (written as :name in the SQL, each declared in params).
5. When the result suits a chart (a number over time, across categories, or against another
   number), call set_visualization with the artifact's id and a Vega-Lite spec whose data is
   {{"name": "results"}} and whose fields are the result's column names exactly. It checks the
   spec and lists any problems with their paths: fix them and call it again. Leave results
   that read best as a table (one row, mostly text) without a chart.
6. To change an artifact saved earlier in this chat, call update_artifact with its id.
7. {rerun_step}
8. When the user asks for a report or a written summary, save the queries it needs first, then
   call write_report. Its text has no digits of its own: every number is a block or an inline
   value of a saved artifact, so it comes from a run, not from memory.

Only read data: statements that write are refused. Read only the tables and columns that
list_tables shows: when a tool says a table or column is not available in this data source,
tell the user that this data is not available to them, and do not try to reach it another way.
Finish with a short answer in Markdown that quotes the key figures from the results. Do not
repeat the full SQL: the artifact card shows it.
"""


SUBJECT = """\
This chat is about the saved artifact #{pk} “{title}”{description}. The user opened it from
the artifact's page: "it", "this query" or "the artifact" mean this one.
Its SQL:
```sql
{sql}
```
Its parameters: {parameters}.
{columns}
{how_to_change}"""

CAN_UPDATE = """\
To change it ("make it weekly", "add the seller's country"), call update_artifact with
artifact_id={pk}, giving the whole new SQL and, when they change, all its parameters; check
the new SQL with run_sql first. Do not save a copy unless the user asks for one."""

CANNOT_UPDATE = """\
The user may not change this artifact: to change it, save a new one with save_artifact (their
own copy) and say so."""


def subject_context(artifact: Artifact, *, can_update: bool) -> str:
    """What the agent is told about the artifact a chat was opened about: its SQL, its
    parameters, the columns of its latest result, and whether update_artifact may change it
    (`can_update`: the chat's owner may edit it)."""
    columns = artifact.last_result_columns()
    if columns:
        shown = ", ".join(f"{c['name']} ({c['type']})" for c in columns)
        columns_text = f"Its latest result's columns: {shown}."
    else:
        columns_text = "It has not run successfully with this SQL yet: its columns are unknown."
    declarations = [d for d in artifact.query_params or [] if isinstance(d, dict)]
    return SUBJECT.format(
        pk=artifact.pk,
        title=artifact.title,
        description=f" ({artifact.description.strip()})" if artifact.description.strip() else "",
        sql=artifact.sql_query.strip(),
        parameters="; ".join(parameter_text(d) for d in declarations) or "none",
        columns=columns_text,
        how_to_change=(CAN_UPDATE if can_update else CANNOT_UPDATE).format(pk=artifact.pk),
    )


LIBRARY_STEP = """\
Call search_artifacts with a few words from the question: saved queries on this data source
   are good examples to start from. When one already answers the question (a verified one
   above all), call run_artifact with its id and the values the question asks for instead of
   writing and saving a new query."""
RERUN_STEP = """\
When the user asks for a saved query with other values ("and the cancelled ones?", "and the
   month before?"), call run_artifact with its id and those values instead of saving a copy."""
# A turn without the library (run_turn(library=False)) has neither search_artifacts nor
# run_artifact: its steps must not name them.
NO_LIBRARY_STEP = "Work from the schema: there are no saved queries to start from."
NO_LIBRARY_RERUN_STEP = """\
When the user asks for the same query with other values, run it again with run_sql and
   update the artifact if it should keep them."""

EXAMPLES_INTRO = """\
Verified queries from the library that answer questions like this one. Verified means a person
checked that the SQL answers the question. When one answers the question asked, run it with
run_artifact (its id, and values for its parameters) rather than writing a new query; otherwise
follow their tables, joins and conventions.
"""


def examples_text(examples: Sequence[Artifact]) -> str:
    """The verified artifacts given to the model, as question/SQL pairs."""
    blocks = [EXAMPLES_INTRO]
    for artifact in examples:
        question = artifact.question or artifact.title
        block = f"Artifact #{artifact.pk} “{artifact.title}”\nQuestion: {question}"
        if artifact.query_params:
            names = ", ".join(
                f":{d.get('name')} ({d.get('type')})"
                for d in artifact.query_params
                if isinstance(d, dict)
            )
            block += f"\nParameters: {names}"
        block += f"\nSQL:\n{artifact.sql_query.strip()}"
        blocks.append(block)
    return "\n\n".join(blocks)


def instructions(
    agent: Agent,
    *,
    dialect: str,
    today: dt.date | None = None,
    examples: Sequence[Artifact] = (),
    library: bool = True,
    subject: str = "",
) -> str:
    """The agent's system prompt, its workflow (with or without the library's tools), the
    verified `examples` from the library and, for a chat opened about an artifact, `subject`
    (subject_context)."""
    workflow = WORKFLOW.format(
        library_step=LIBRARY_STEP if library else NO_LIBRARY_STEP,
        rerun_step=RERUN_STEP if library else NO_LIBRARY_RERUN_STEP,
        data_source=agent.data_source,
        dialect="PostgreSQL" if dialect == "postgres" else "SQLite",
        today=(today or timezone.localdate()).isoformat(),
        row_cap=SQL_ROW_CAP,
    )
    if examples:
        workflow += "\n" + examples_text(examples)
    own = agent.system_prompt.strip()
    parts = [part for part in (own, workflow, subject) if part]
    return "\n\n".join(parts)

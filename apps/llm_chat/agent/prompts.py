"""The instructions every agent gets on top of its own system prompt."""

# ruff: noqa: RUF001 (the Russian workflow is Russian text: its Cyrillic letters are meant)

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

Answer in the language of the user's question. Write the titles and descriptions of the
artifacts, charts and reports you save in {language_name}, the chat's language.

Only read data: statements that write are refused. Read only the tables and columns that
list_tables shows: when a tool says a table or column is not available in this data source,
tell the user that this data is not available to them, and do not try to reach it another way.
Finish with a short answer in Markdown that quotes the key figures from the results. Do not
repeat the full SQL: the artifact card shows it.
"""

WORKFLOW_RU = """\
Ты отвечаешь на вопросы об источнике данных "{data_source}", составляя SQL для {dialect}.
Сегодня {today}.

Порядок работы:
1. {library_step}
2. Вызови list_tables, а где нужны подробности, describe_table. Никогда не угадывай имена
   таблиц и столбцов.
3. Вызови run_sql, чтобы проверить запрос; он показывает не больше {row_cap} строк. Если запрос
   упал, прочитай ошибку, исправь SQL и попробуй снова.
4. Когда запрос отвечает на вопрос, вызови save_artifact один раз: короткое название, SQL,
   описание в одно предложение и типизированные параметры для значений, которые человек может
   захотеть поменять (в SQL они записаны как :name, и каждый объявлен в params).
5. Когда результат подходит для графика (число во времени, по категориям или против другого
   числа), вызови set_visualization с id артефакта и спецификацией Vega-Lite, у которой data —
   {{"name": "results"}}, а поля точно совпадают с именами столбцов результата. Инструмент
   проверяет спецификацию и перечисляет ошибки с путями: исправь их и вызови его снова.
   Результаты, которые лучше читаются таблицей (одна строка, в основном текст), оставь без
   графика.
6. Чтобы изменить артефакт, сохранённый ранее в этом чате, вызови update_artifact с его id.
7. {rerun_step}
8. Когда пользователь просит отчёт или письменную сводку, сначала сохрани нужные запросы, затем
   вызови write_report. В тексте отчёта нет собственных цифр: каждое число — блок или значение
   сохранённого артефакта, то есть оно берётся из запуска, а не из памяти.

Отвечай на языке вопроса пользователя. Названия и описания артефактов, графиков и отчётов,
которые ты сохраняешь, пиши на {language_name}, языке этого чата.

Только читай данные: изменяющие запросы отклоняются. Читай только те таблицы и столбцы, которые
показывает list_tables: если инструмент говорит, что таблица или столбец недоступны в этом
источнике данных, скажи пользователю, что эти данные ему недоступны, и не пытайся получить их
другим путём. Закончи коротким ответом в Markdown с ключевыми цифрами из результатов. Не
повторяй SQL целиком: его показывает карточка артефакта.
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

LIBRARY_STEP_RU = """\
Вызови search_artifacts с несколькими словами из вопроса: сохранённые запросы к этому
   источнику данных — хорошие примеры для начала. Если один из них уже отвечает на вопрос
   (особенно проверенный), вызови run_artifact с его id и значениями из вопроса вместо того,
   чтобы писать и сохранять новый запрос."""
RERUN_STEP_RU = """\
Когда пользователь просит сохранённый запрос с другими значениями («а отменённые?», «а за
   предыдущий месяц?»), вызови run_artifact с его id и этими значениями вместо сохранения
   копии."""
NO_LIBRARY_STEP_RU = "Работай по схеме: сохранённых запросов, от которых можно оттолкнуться, нет."
NO_LIBRARY_RERUN_STEP_RU = """\
Когда пользователь просит тот же запрос с другими значениями, выполни его снова через run_sql
   и обнови артефакт, если он должен их сохранить."""

# The workflow in each of settings.LANGUAGES (the chat's language picks one), with the name
# of that language as its text says it. A language missing here gets the English workflow.
WORKFLOWS = {
    "en": {
        "workflow": WORKFLOW,
        "library_step": LIBRARY_STEP,
        "rerun_step": RERUN_STEP,
        "no_library_step": NO_LIBRARY_STEP,
        "no_library_rerun_step": NO_LIBRARY_RERUN_STEP,
        "language_name": "English",
    },
    "ru": {
        "workflow": WORKFLOW_RU,
        "library_step": LIBRARY_STEP_RU,
        "rerun_step": RERUN_STEP_RU,
        "no_library_step": NO_LIBRARY_STEP_RU,
        "no_library_rerun_step": NO_LIBRARY_RERUN_STEP_RU,
        "language_name": "русском языке",
    },
}

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
    language: str = "en",
) -> str:
    """The agent's system prompt, its workflow (with or without the library's tools) in the
    chat's `language`, the verified `examples` from the library and, for a chat opened about
    an artifact, `subject` (subject_context)."""
    texts = WORKFLOWS.get(language, WORKFLOWS["en"])
    workflow = texts["workflow"].format(
        library_step=texts["library_step"] if library else texts["no_library_step"],
        rerun_step=texts["rerun_step"] if library else texts["no_library_rerun_step"],
        language_name=texts["language_name"],
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

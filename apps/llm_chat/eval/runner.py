"""Run an agent over a set of questions with known correct SQL and score its answers.

Each question is asked in a chat of its own (owned by the evaluating user, titled
"[eval] ..."), through the same turn as any chat: the agent's provider, its tools, the
library unless `with_library` is off. Its SQL is what it settled on: the artifact it saved
(run with its parameters' defaults), else the artifact it ran (with the values it chose),
else its last run_sql. That SQL and the gold SQL run read-only through the executor, and
scoring.py compares the rows. The run and every answer are stored (EvalRun, EvalAnswer).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from pydantic_ai.models import Model

from apps.datasources import executor
from apps.llm_agent.models import Agent, EvalAnswer, EvalRun
from apps.llm_artifact.parameters import resolve_values
from apps.llm_chat.agent import run_turn_sync
from apps.llm_chat.eval.scoring import Result, Score, score
from apps.llm_chat.models import Chat, Message
from apps.llm_chat.services import post_user_message

DEFAULT_QUESTIONS = Path(__file__).with_name("marketplace.json")
# Enough rows for any gold answer; a result past it is compared on its first rows only.
MAX_ROWS = 10_000
LEVELS = ("easy", "medium", "hard")


class QuestionsInvalid(ValueError):
    """The questions file cannot be used; the message says why."""


@dataclass(frozen=True)
class Question:
    id: str
    level: str
    question: str
    sql: str


@dataclass(frozen=True)
class QuestionSet:
    path: Path
    data_source: str
    questions: list[Question]


def load_questions(path: Path | str = DEFAULT_QUESTIONS) -> QuestionSet:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise QuestionsInvalid(f"Cannot read {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise QuestionsInvalid(f"{path} is not JSON: {exc}") from exc
    items = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise QuestionsInvalid(f'{path} needs a non-empty "questions" list.')
    questions, seen = [], set()
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise QuestionsInvalid(f"Question {number} is not an object.")
        missing = [key for key in ("id", "question", "sql") if not str(item.get(key, "")).strip()]
        if missing:
            raise QuestionsInvalid(f"Question {number} lacks {', '.join(missing)}.")
        if item["id"] in seen:
            raise QuestionsInvalid(f"Question id {item['id']!r} appears twice.")
        seen.add(item["id"])
        questions.append(
            Question(
                id=str(item["id"]),
                level=str(item.get("level", "")),
                question=str(item["question"]).strip(),
                sql=str(item["sql"]).strip(),
            )
        )
    return QuestionSet(path=path, data_source=str(data.get("data_source", "")), questions=questions)


def run_query(data_source: str, sql: str, params: dict | None = None) -> Result:
    """Raises executor.QueryFailed (or LookupError for an unknown source)."""
    result = executor.execute(data_source, sql, params or None, max_rows=MAX_ROWS)
    return Result(columns=[column.name for column in result.columns], rows=result.rows)


@dataclass(frozen=True)
class AgentSQL:
    sql: str = ""
    params: dict | None = None
    source: str = ""  # save_artifact, run_artifact, run_sql, or "" when there is none


def _last_run_sql(reply: Message) -> AgentSQL:
    """The last run_sql the model called in this reply's turn (from its provider messages)."""
    found = AgentSQL()
    for message in reply.model_messages or []:
        for part in message.get("parts", []) if isinstance(message, dict) else []:
            if part.get("part_kind") != "tool-call" or part.get("tool_name") != "run_sql":
                continue
            args = part.get("args")
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except json.JSONDecodeError:
                    continue
            if isinstance(args, dict) and str(args.get("sql", "")).strip():
                params = args.get("params") if isinstance(args.get("params"), dict) else None
                found = AgentSQL(str(args["sql"]), params, "run_sql")
    return found


def agent_sql(reply: Message) -> AgentSQL:
    """The SQL the agent settled on in this reply (see the module's docstring)."""
    links = list(reply.artifact_links.select_related("artifact").order_by("created_at", "id"))
    for action, source in (
        ({Message.ArtifactAction.CREATED, Message.ArtifactAction.UPDATED}, "save_artifact"),
        ({Message.ArtifactAction.EXECUTED}, "run_artifact"),
    ):
        chosen = [link for link in links if link.action in action]
        if chosen:
            artifact = chosen[-1].artifact
            raw = chosen[-1].params if source == "run_artifact" else {}
            try:
                values = resolve_values(
                    artifact.query_params, raw or {}, data_source=artifact.data_source
                )
            except ValidationError:
                values = raw or {}
            return AgentSQL(artifact.sql_query, values, source)
    return _last_run_sql(reply)


def answer_question(
    agent: Agent, user, question: Question, *, with_library: bool, model: Model | None
) -> tuple[Chat, Message]:
    chat = Chat.objects.create(owner=user, agent=agent, title=f"[eval] {question.question}"[:200])
    user_message = post_user_message(chat, content=question.question)
    outcome = run_turn_sync(chat, user_message, model=model, library=with_library)
    return chat, outcome.reply


def score_answer(data_source: str, gold: Result, found: AgentSQL) -> Score:
    if not found.sql:
        return score(gold, None)
    try:
        result = run_query(data_source, found.sql, found.params)
    except executor.QueryFailed as exc:
        return score(gold, None, error=exc.message)
    return score(gold, result)


def evaluate(
    agent: Agent,
    user,
    questions: QuestionSet,
    *,
    with_library: bool = True,
    model: Model | None = None,
    progress: Callable[[EvalAnswer], None] | None = None,
) -> EvalRun:
    """Ask every question, score every answer, and store the run.

    The gold SQL runs first, so a question set that does not fit the agent's data source
    fails before any model is asked (QuestionsInvalid).
    """
    golds = {}
    for question in questions.questions:
        try:
            golds[question.id] = run_query(agent.data_source, question.sql)
        except executor.QueryFailed as exc:
            raise QuestionsInvalid(
                f"The known SQL of {question.id!r} fails on {agent.data_source!r}: {exc.message}"
            ) from exc
    run = EvalRun.objects.create(
        agent=agent,
        questions_file=questions.path.name,
        with_library=with_library,
        model_name=agent.model_name,
        started_at=timezone.now(),
    )
    started = time.perf_counter()
    for position, question in enumerate(questions.questions, 1):
        chat, reply = answer_question(agent, user, question, with_library=with_library, model=model)
        found = agent_sql(reply)
        verdict = score_answer(agent.data_source, golds[question.id], found)
        detail = verdict.detail
        if not found.sql and reply.status == Message.Status.ERROR:
            detail = f"The turn failed: {reply.error}"
        examples = chat.model_calls.values_list("library_examples", flat=True).first() or []
        answer = EvalAnswer.objects.create(
            run=run,
            position=position,
            question_id=question.id,
            level=question.level,
            question=question.question,
            gold_sql=question.sql,
            agent_sql=found.sql,
            sql_source=found.source,
            verdict=verdict.verdict,
            detail=detail[:2000],
            library_examples=examples,
            chat=chat,
        )
        if progress:
            progress(answer)
    with transaction.atomic():
        run.total = len(questions.questions)
        run.correct = run.answers.filter(verdict=EvalAnswer.Verdict.CORRECT).count()
        run.duration_seconds = round(time.perf_counter() - started, 1)
        run.save(update_fields=["total", "correct", "duration_seconds"])
    return run

"""`manage.py eval_agent --agent NAME`: how often the agent's SQL returns the right rows.

Runs a set of questions with known correct SQL (apps/llm_chat/eval/marketplace.json by
default) through the agent, prints a table of verdicts, stores the run (EvalRun, in the admin),
compares it with the agent's previous run on the same questions, and exits with status 1 when
the accuracy is below --floor. See README ("Evaluating an agent").
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.llm_agent.models import Agent, EvalAnswer, EvalRun
from apps.llm_chat.eval.runner import (
    DEFAULT_QUESTIONS,
    QuestionsInvalid,
    evaluate,
    load_questions,
)

QUESTION_WIDTH = 60
DETAIL_WIDTH = 160


class Command(BaseCommand):
    help = "Score an agent's SQL against questions with known correct SQL (execution accuracy)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--agent", required=True, help="The agent's name.")
        parser.add_argument(
            "--questions",
            default=str(DEFAULT_QUESTIONS),
            help="A questions file (JSON, see apps/llm_chat/eval/marketplace.json).",
        )
        parser.add_argument(
            "--without-library",
            action="store_true",
            help="No verified examples, no search_artifacts or run_artifact: the baseline.",
        )
        parser.add_argument(
            "--floor",
            type=float,
            default=0.6,
            help="Exit with status 1 when the accuracy (0 to 1) is below this. Default 0.6.",
        )
        parser.add_argument(
            "--user",
            help="Whose chats the questions are asked in, and whose library the agent sees "
            "(default: the first superuser).",
        )

    def handle(self, *args, **options) -> None:
        floor = options["floor"]
        if not 0 <= floor <= 1:
            raise CommandError("--floor is a share of correct answers, from 0 to 1.")
        agent = Agent.objects.filter(name=options["agent"]).first()
        if agent is None:
            names = ", ".join(Agent.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"No agent named {options['agent']!r}. Agents: {names}.")
        user = self._user(options["user"])
        refused = agent.unusable_reason(user) or (
            None if agent.is_active else f"The agent {agent.name!r} is deactivated."
        )
        if refused:
            raise CommandError(refused)
        try:
            questions = load_questions(options["questions"])
        except QuestionsInvalid as exc:
            raise CommandError(str(exc)) from exc
        if questions.data_source and questions.data_source != agent.data_source:
            raise CommandError(
                f"The questions are about {questions.data_source!r}; the agent {agent.name!r} "
                f"works on {agent.data_source!r}."
            )
        library = not options["without_library"]
        self.stdout.write(
            f"Evaluating {agent.name} ({agent.model_name}) on {len(questions.questions)} "
            f"questions from {questions.path.name}, "
            f"{'with' if library else 'without'} the library, as {user.get_username()}."
        )
        self.stdout.write(self._row("#", "level", "verdict", "question"))
        try:
            run = evaluate(
                agent,
                user,
                questions,
                with_library=library,
                progress=lambda answer: self.stdout.write(self._answer_row(answer)),
            )
        except QuestionsInvalid as exc:
            raise CommandError(str(exc)) from exc
        self._summary(run)
        if run.accuracy < floor:
            raise CommandError(
                f"Accuracy {run.accuracy:.1%} is below the floor of {floor:.0%}.", returncode=1
            )

    def _user(self, username: str | None):
        users = get_user_model().objects.filter(is_active=True)
        if username:
            user = users.filter(username=username).first()
            if user is None:
                raise CommandError(f"No active user named {username!r}.")
            return user
        user = users.filter(is_superuser=True).order_by("pk").first()
        if user is None:
            raise CommandError("No superuser to run the evaluation as: give --user.")
        return user

    @staticmethod
    def _row(position: str, level: str, verdict: str, question: str) -> str:
        if len(question) > QUESTION_WIDTH:
            question = question[: QUESTION_WIDTH - 1] + "…"
        return f"{position:>3}  {level:<6}  {verdict:<16}  {question}"

    def _answer_row(self, answer: EvalAnswer) -> str:
        row = self._row(str(answer.position), answer.level, answer.verdict, answer.question)
        if answer.is_correct:
            return row
        detail = answer.detail
        if len(detail) > DETAIL_WIDTH:
            detail = detail[: DETAIL_WIDTH - 1] + "…"
        return f"{row}\n{'':>29}{detail}"

    def _summary(self, run: EvalRun) -> None:
        by_level: dict[str, list[bool]] = {}
        for answer in run.answers.all():
            by_level.setdefault(answer.level or "-", []).append(answer.is_correct)
        levels = ", ".join(
            f"{level} {sum(marks)}/{len(marks)}" for level, marks in by_level.items()
        )
        self.stdout.write(
            f"Accuracy: {run.correct}/{run.total} = {run.accuracy:.1%} ({levels}) "
            f"in {run.duration_seconds:.0f} s. Stored as eval run {run.pk}."
        )
        previous = run.previous()
        if previous is None:
            self.stdout.write("No earlier run of this agent on these questions to compare with.")
            return
        before = {a.question_id: a.is_correct for a in previous.answers.all()}
        now = {a.question_id: a.is_correct for a in run.answers.all()}
        fixed = [q for q, ok in now.items() if ok and before.get(q) is False]
        broke = [q for q, ok in now.items() if not ok and before.get(q)]
        change = (run.accuracy - previous.accuracy) * 100
        setting = "with" if previous.with_library else "without"
        self.stdout.write(
            f"Previous run {previous.pk} ({previous.started_at:%Y-%m-%d %H:%M}, {setting} the "
            "library): "
            f"{previous.correct}/{previous.total} = {previous.accuracy:.1%}; "
            f"change {change:+.1f} points."
        )
        if fixed:
            self.stdout.write(f"Now correct: {', '.join(fixed)}")
        if broke:
            self.stdout.write(f"Now wrong: {', '.join(broke)}")

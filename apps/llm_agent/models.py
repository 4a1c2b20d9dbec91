from __future__ import annotations

import os
import re
from decimal import Decimal

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Avg, Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from apps.accounts.sharing import user_group_ids
from apps.datasources.access import denied_sources_subquery, may_use_source
from apps.datasources.sources import validate_data_source

ENV_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate_env_var_name(value: str) -> None:
    if value and not ENV_VAR_NAME_RE.match(value):
        raise ValidationError(
            "Give the name of an environment variable (letters, digits and _), not the key.",
            code="invalid_env_var_name",
        )


class AgentQuerySet(models.QuerySet):
    def usable_by(self, user) -> AgentQuerySet:
        """The agents `user` may start chats with: those limited to none of the groups, and
        those limited to a group of theirs, working on a data source the user may use; staff
        may use every agent. (Agent.is_usable_by is the same rule for one agent in hand.)"""
        if not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        limited = Agent.groups.through.objects.values("agent_id")
        allowed = Agent.groups.through.objects.filter(group__user=user).values("agent_id")
        return self.filter(~Q(pk__in=limited) | Q(pk__in=allowed)).exclude(
            data_source__in=denied_sources_subquery(user)
        )

    def active(self) -> AgentQuerySet:
        return self.filter(is_active=True)

    def with_call_totals(self) -> AgentQuerySet:
        """Each agent with the totals of its model-call log, for operators: `call_count`,
        `error_count`, `input_tokens_total`, `output_tokens_total` and `mean_latency_ms`
        (None without calls).

        Correlated subqueries rather than joined aggregates, which would multiply with any
        other reverse relation counted beside them (chats, artifacts).
        """

        def total(aggregate, **filters: object) -> Subquery:
            calls = ModelCall.objects.filter(agent=OuterRef("pk"), **filters).order_by()
            return Subquery(calls.values("agent").annotate(value=aggregate).values("value"))

        return self.annotate(
            call_count=Coalesce(total(Count("pk")), 0),
            error_count=Coalesce(total(Count("pk"), outcome=ModelCall.Outcome.ERROR), 0),
            input_tokens_total=Coalesce(total(Sum("input_tokens")), 0),
            output_tokens_total=Coalesce(total(Sum("output_tokens")), 0),
            mean_latency_ms=total(Avg("latency_ms")),
        )


# Choices live at module level so the models' Meta constraints can be built from them (a
# nested class is out of Meta's scope); the models expose them as Agent.Provider and so on.
class Provider(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    OPENAI_COMPATIBLE = "openai_compatible", _("OpenAI-compatible (Ollama, vLLM, llama.cpp…)")


class Outcome(models.TextChoices):
    OK = "ok", _("OK")
    ERROR = "error", _("Error")


class Agent(models.Model):
    Provider = Provider

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    provider = models.CharField(max_length=32, choices=Provider.choices)
    model_name = models.CharField(max_length=200)
    base_url = models.URLField(
        blank=True,
        max_length=500,
        help_text=_("Required for OpenAI-compatible servers, e.g. http://127.0.0.1:11434/v1."),
    )
    # Only the variable's name is stored: the key itself never touches the database.
    api_key_env = models.CharField(
        "API key environment variable",
        max_length=100,
        blank=True,
        validators=[validate_env_var_name],
        help_text=_(
            "Name of the environment variable that holds the API key, e.g. OPENAI_API_KEY."
        ),
    )
    system_prompt = models.TextField(blank=True)
    temperature = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.2"),
        validators=[MinValueValidator(0), MaxValueValidator(2)],
    )
    max_output_tokens = models.PositiveIntegerField(
        default=2048, validators=[MinValueValidator(1), MaxValueValidator(200_000)]
    )
    data_source = models.CharField(max_length=64, validators=[validate_data_source])
    # Offered on the new-chat page, one question a line: what this agent is good at.
    # db_default: rows written by code that predates the field (older migrations) get "".
    example_questions = models.TextField(
        blank=True,
        default="",
        db_default="",
        help_text=_("Offered on the new-chat page, one question per line."),
    )
    # Who may chat with it: nobody is left out when no group is chosen.
    groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="agents",
        help_text=_("Only members of these groups may chat with this agent; none: everyone."),
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(temperature__gte=0) & Q(temperature__lte=2),
                name="agent_temperature_between_0_and_2",
            ),
            models.CheckConstraint(
                condition=Q(provider__in=Provider.values),
                name="agent_provider_known",
            ),
            models.CheckConstraint(
                condition=Q(max_output_tokens__gte=1),
                name="agent_max_output_tokens_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def is_usable_by(self, user) -> bool:
        """AgentQuerySet.usable_by for one agent in hand."""
        if not user.is_authenticated:
            return False
        if user.is_staff:
            return True
        if not may_use_source(user, self.data_source):
            return False
        limited_to = {group.pk for group in self.groups.all()}
        return not limited_to or bool(limited_to & user_group_ids(user))

    def unusable_reason(self, user) -> str | None:
        """Why `user` may not chat with this agent (now), in plain words; None if they may.

        Asked before a chat's turn, not only when it starts: access can change in between.
        """
        # One query: the queryset form of is_usable_by (the same rule, held to it by
        # tests/test_sharing_properties.py), cheaper than its two lookups on a chat page.
        if user.is_authenticated and (
            user.is_staff or Agent.objects.usable_by(user).filter(pk=self.pk).exists()
        ):
            return None
        if user.is_authenticated and not may_use_source(user, self.data_source):
            return (
                f"The agent {self.name!r} works on the data source {self.data_source!r}, which "
                "is not available to you. This chat can be read but not continued; ask an "
                "operator for access, or start a new chat with another agent."
            )
        return (
            f"The agent {self.name!r} is not available to you. This chat can be read but not "
            "continued; ask an operator for access, or start a new chat with another agent."
        )

    # At most this many examples, each at most this long, so the page stays short.
    MAX_EXAMPLES = 6
    MAX_EXAMPLE_LENGTH = 300

    @property
    def examples(self) -> list[str]:
        """The example questions, one a line, blank lines skipped."""
        lines = (line.strip() for line in self.example_questions.splitlines())
        return [line[: self.MAX_EXAMPLE_LENGTH] for line in lines if line][: self.MAX_EXAMPLES]

    def clean(self) -> None:
        super().clean()
        if self.provider == self.Provider.OPENAI_COMPATIBLE and not self.base_url:
            raise ValidationError(
                {"base_url": "An OpenAI-compatible provider needs the server's base URL."}
            )

    @property
    def api_key_env_name(self) -> str:
        """The environment variable the key is read from: the one the agent names, else the
        provider's conventional one ("" for a keyless OpenAI-compatible server)."""
        return self.api_key_env or DEFAULT_API_KEY_ENV.get(self.provider, "")

    @property
    def api_key_is_set(self) -> bool:
        """Whether this process has the key; the key itself is never stored or rendered."""
        env_name = self.api_key_env_name
        return bool(env_name and os.environ.get(env_name))


# Used when an agent leaves api_key_env blank. OpenAI-compatible servers (Ollama) need no key.
DEFAULT_API_KEY_ENV = {
    Agent.Provider.OPENAI: "OPENAI_API_KEY",
    Agent.Provider.ANTHROPIC: "ANTHROPIC_API_KEY",
}


class ModelCall(models.Model):
    """One request to a model provider, logged for operators (cost, speed, failures).

    Chat turns and the admin's connection checks both write here. The table keeps the name it
    had when the model lived in llm_chat (migrations llm_chat 0003 / llm_agent 0002).
    """

    Outcome = Outcome

    # The log belongs to the agent: an agent with chats cannot be deleted (PROTECT on Chat), and
    # one that never chatted takes its connection checks with it.
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="model_calls")
    # Chats live in the app above: string labels, never an import.
    chat = models.ForeignKey(
        "llm_chat.Chat",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="model_calls",
    )
    message = models.ForeignKey(
        "llm_chat.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="model_calls",
    )
    model_name = models.CharField(max_length=200)
    # The agent's provider, not the name a response gives itself ("openai-compatible").
    provider = models.CharField(max_length=64, choices=Provider.choices)
    started_at = models.DateTimeField(db_index=True)
    latency_ms = models.FloatField()
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    # [{"name": "run_sql", "args": {...}}] as the model asked for them.
    tool_calls = models.JSONField(default=list, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    error = models.TextField(blank=True)
    # The verified artifacts the turn was given as examples, [{"id": 7, "title": "..."}]:
    # a record of what the model saw, kept as it was even if the artifact changes later.
    library_examples = models.JSONField(default=list, blank=True)

    class Meta:
        db_table = "llm_chat_modelcall"
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["agent", "-started_at"], name="modelcall_agent_started")]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=Outcome.values), name="modelcall_outcome_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} {self.outcome} {self.latency_ms:.0f} ms"


class EvalRun(models.Model):
    """One run of `manage.py eval_agent`: an agent answering a set of questions with known
    correct SQL, scored by execution accuracy. Kept so runs of an agent can be compared."""

    # A run is the agent's record: it goes with the agent.
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="eval_runs")
    questions_file = models.CharField(max_length=500)
    with_library = models.BooleanField(default=True)
    model_name = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    duration_seconds = models.FloatField(default=0)
    total = models.PositiveIntegerField(default=0)
    correct = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.agent} {self.started_at:%Y-%m-%d %H:%M} {self.correct}/{self.total}"

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def previous(self) -> EvalRun | None:
        """The agent's run before this one on the same questions file, with the library or
        without: a run without it, then one with it, shows what the library is worth."""
        return (
            EvalRun.objects.filter(
                agent=self.agent,
                questions_file=self.questions_file,
                started_at__lt=self.started_at,
            )
            .exclude(pk=self.pk)
            .first()
        )


class Verdict(models.TextChoices):
    CORRECT = "correct", _("Correct")
    NO_SQL = "no_sql", _("No SQL")
    ERROR = "error", _("Error")
    EMPTY = "empty", _("Empty result")
    MISSING_ROWS = "missing_rows", _("Missing rows")
    EXTRA_ROWS = "extra_rows", _("Extra rows")
    DIFFERENT_VALUES = "different_values", _("Different values")


class EvalAnswer(models.Model):
    """The agent's answer to one question of an EvalRun, and how it scored."""

    Verdict = Verdict

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="answers")
    position = models.PositiveIntegerField()
    question_id = models.CharField(max_length=100)
    level = models.CharField(max_length=20, blank=True)
    question = models.TextField()
    gold_sql = models.TextField()
    agent_sql = models.TextField(blank=True)
    # Where the agent's SQL came from: "save_artifact", "run_artifact", "run_sql" or "".
    sql_source = models.CharField(max_length=32, blank=True)
    verdict = models.CharField(max_length=32, choices=Verdict.choices)
    detail = models.TextField(blank=True)
    # The verified artifacts the turn was given as examples ([{"id", "title"}]).
    library_examples = models.JSONField(default=list, blank=True)
    # The conversation the answer came from; it may be deleted, the score stays.
    chat = models.ForeignKey(
        "llm_chat.Chat", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="evalanswer_run_position"),
            models.CheckConstraint(
                condition=Q(verdict__in=Verdict.values), name="evalanswer_verdict_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.question_id}: {self.verdict}"

    @property
    def is_correct(self) -> bool:
        return self.verdict == Verdict.CORRECT

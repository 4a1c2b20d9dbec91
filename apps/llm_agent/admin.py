"""Admin for agent configurations and their model-call log.

The API key is never read here: operators see the name of the environment variable and
whether the running process has it set, nothing more. "Test connection" sends one short
request to the provider (providers.check_connection) and reports how it went; its error texts
name the variable, never the key.
"""

from __future__ import annotations

import asyncio
import json

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from apps.core.admin import already_note, badge, change_link, changelist_link, set_field_logged
from apps.core.redact import mask_url, mask_urls
from apps.llm_agent.forms import AgentAdminForm
from apps.llm_agent.models import Agent, EvalAnswer, EvalRun, ModelCall
from apps.llm_agent.providers import ConnectionCheck, acheck_connection, provider_base_url


def _reverse_count(relation: str) -> Coalesce:
    """COUNT of one reverse relation of Agent, as a correlated subquery.

    Two joined Count()s would multiply each other (chats x artifacts rows per agent). The
    related model is reached through the relation rather than imported, because chats and
    artifacts live in apps layered above this one.
    """
    rel = Agent._meta.get_field(relation)
    fk_name = rel.field.name
    counts = (
        rel.related_model._default_manager.filter(**{fk_name: OuterRef("pk")})
        .order_by()
        .values(fk_name)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts), 0)


def _agent_link(agent: Agent, app_model: str, count: int, **filters: object) -> SafeString | int:
    """A count of the agent's rows in another changelist, linked to that list filtered to the
    agent; a bare 0 on the add page, where the agent has no rows (and no counts) yet."""
    if not agent.pk:
        return 0
    return changelist_link(app_model, {"agent__id__exact": agent.pk, **filters}, count)


def _masked(field: str) -> str:
    return "server" if field == "base_url" else field


def check_connections(agents: list[Agent]) -> list[ConnectionCheck]:
    """Check several agents at once: a slow provider does not hold up the others."""

    async def check_all() -> list[ConnectionCheck]:
        return await asyncio.gather(*(acheck_connection(agent) for agent in agents))

    return async_to_sync(check_all)()


def _log_check(agent: Agent, check: ConnectionCheck) -> None:
    """A connection check is a model request too: it goes in the call log, without a chat."""
    ModelCall.objects.create(
        agent=agent,
        model_name=agent.model_name,
        provider=agent.provider,
        started_at=timezone.now(),
        latency_ms=check.latency_ms,
        outcome=ModelCall.Outcome.OK if check.ok else ModelCall.Outcome.ERROR,
        error="" if check.ok else check.detail,
    )


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    form = AgentAdminForm
    list_display = [
        "name",
        "provider",
        "model_name",
        "server",
        "data_source",
        "is_active",
        "chat_count",
        "artifact_count",
        "calls",
        "errors",
        "tokens",
        "mean_latency",
        "api_key_status",
    ]
    list_filter = ["provider", "is_active", "data_source", "groups"]
    search_fields = ["name", "description", "model_name", "api_key_env"]
    filter_horizontal = ["groups"]
    ordering = ["name"]
    # Django 6 assumes https for scheme-less URLs; opt in now (a key must not travel in
    # the clear by accident) and keep the form free of the deprecation warning.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["activate", "deactivate", "test_connection"]
    readonly_fields = [
        "server",
        "api_key_status",
        "chat_count",
        "artifact_count",
        "calls",
        "errors",
        "tokens",
        "mean_latency",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "description", "is_active"]}),
        (
            _("Model"),
            {
                "fields": [
                    "provider",
                    "model_name",
                    "base_url",
                    "temperature",
                    "max_output_tokens",
                ]
            },
        ),
        (
            _("API key"),
            {
                "fields": ["api_key_env", "api_key_status"],
                "description": _(
                    "Only the variable's name is stored. The key stays in the "
                    "environment of the server process and is never shown here; the status "
                    "below says whether this process has it set."
                ),
            },
        ),
        (_("Behaviour"), {"fields": ["data_source", "system_prompt", "example_questions"]}),
        (
            _("Access"),
            {
                "fields": ["groups"],
                "description": _(
                    "Only members of the chosen groups may start chats with this "
                    "agent (staff always may); none chosen: every signed-in user. Users also "
                    "need access to its data source (Data source access)."
                ),
            },
        ),
        (
            _("Usage"),
            {
                "fields": [
                    "chat_count",
                    "artifact_count",
                    "calls",
                    "errors",
                    "tokens",
                    "mean_latency",
                    "created_at",
                    "updated_at",
                ],
                "description": _(
                    "Model calls are every request to the provider, connection "
                    "checks included; tokens as the provider counted them."
                ),
            },
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agent]:
        return (
            super()
            .get_queryset(request)
            .with_call_totals()
            .annotate(
                chat_count=_reverse_count("chats"),
                artifact_count=_reverse_count("artifacts"),
            )
        )

    def get_fieldsets(self, request: HttpRequest, obj: Agent | None = None) -> list:
        """The form edits the stored base URL (credentials and all: that is where operators
        change them); a read-only view (staff who may only view agents) shows it masked."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        return [
            (name, {**options, "fields": [_masked(f) for f in options["fields"]]})
            for name, options in fieldsets
        ]

    def get_urls(self) -> list:
        check = self.admin_site.admin_view(self.test_connection_view)
        return [
            path("<path:object_id>/test-connection/", check, name="llm_agent_agent_test"),
            *super().get_urls(),
        ]

    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        """The change page's "Test connection" button (a POST), then back to the page."""
        if request.method != "POST":
            raise Http404("Test the connection with the button on the agent's page.")
        if not self.has_change_permission(request):
            raise PermissionDenied
        agent = get_object_or_404(Agent, pk=unquote(object_id))
        self._report_checks(request, [agent])
        return HttpResponseRedirect(reverse("admin:llm_agent_agent_change", args=[agent.pk]))

    def _report_checks(self, request: HttpRequest, agents: list[Agent]) -> None:
        for agent, check in zip(agents, check_connections(agents), strict=True):
            _log_check(agent, check)
            if check.ok:
                self.message_user(
                    request,
                    gettext("%(agent)s: connected in %(ms)s ms. %(detail)s")
                    % {"agent": agent.name, "ms": _ms(check.latency_ms), "detail": check.detail},
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    gettext("%(agent)s: no answer after %(ms)s ms. %(detail)s")
                    % {"agent": agent.name, "ms": _ms(check.latency_ms), "detail": check.detail},
                    messages.ERROR,
                )

    @admin.action(description=_("Test connection of selected agents"), permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._report_checks(request, list(queryset.order_by("name")))

    @admin.display(description=_("server"), ordering="base_url")
    def server(self, agent: Agent) -> str:
        """Where the agent's requests go, credentials masked."""
        return mask_url(provider_base_url(agent)) or self.get_empty_value_display()

    @admin.display(description=_("API key"))
    def api_key_status(self, agent: Agent) -> str:
        env_name = agent.api_key_env_name
        if not env_name:
            return "— none (keyless server)"
        if agent.api_key_is_set:
            return format_html('<code>{}</code> <span style="color:#198754">✓ set</span>', env_name)
        return format_html('<code>{}</code> <span style="color:#dc3545">✗ not set</span>', env_name)

    @admin.display(description=_("chats"), ordering="chat_count")
    def chat_count(self, agent: Agent) -> SafeString | int:
        return _agent_link(agent, "llm_chat_chat", agent.pk and agent.chat_count)

    @admin.display(description=_("artifacts"), ordering="artifact_count")
    def artifact_count(self, agent: Agent) -> SafeString | int:
        return _agent_link(agent, "llm_artifact_artifact", agent.pk and agent.artifact_count)

    @admin.display(description=_("model calls"), ordering="call_count")
    def calls(self, agent: Agent) -> SafeString | int:
        return _agent_link(agent, "llm_agent_modelcall", agent.pk and agent.call_count)

    @admin.display(description=_("errors"), ordering="error_count")
    def errors(self, agent: Agent) -> SafeString | int:
        return _agent_link(
            agent,
            "llm_agent_modelcall",
            agent.pk and agent.error_count,
            outcome__exact=ModelCall.Outcome.ERROR,
        )

    @admin.display(description=_("tokens in / out"), ordering="input_tokens_total")
    def tokens(self, agent: Agent) -> str:
        if not agent.pk:
            return "0 / 0"
        return f"{agent.input_tokens_total:,} / {agent.output_tokens_total:,}"

    @admin.display(description=_("mean latency"), ordering="mean_latency_ms")
    def mean_latency(self, agent: Agent) -> str:
        if not agent.pk or agent.mean_latency_ms is None:
            return self.get_empty_value_display()
        return f"{agent.mean_latency_ms:,.0f} ms"

    def _set_active(self, request: HttpRequest, queryset: QuerySet[Agent], active: bool) -> None:
        changed, already = set_field_logged(request, queryset, "is_active", active, "Is active")
        state = gettext("active") if active else gettext("inactive")
        message = ngettext(
            "%(count)d agent marked as %(state)s.",
            "%(count)d agents marked as %(state)s.",
            changed,
        ) % {"count": changed, "state": state}
        self.message_user(request, message + already_note(already), messages.SUCCESS)

    @admin.action(description=_("Activate selected agents"), permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._set_active(request, queryset, True)

    @admin.action(description=_("Deactivate selected agents"), permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._set_active(request, queryset, False)


@admin.register(ModelCall)
class ModelCallAdmin(admin.ModelAdmin):
    """Every request to a model provider: what it cost, how long it took, how it ended."""

    list_display = [
        "started_at",
        "agent",
        "chat_link",
        "model_name",
        "latency",
        "input_tokens",
        "output_tokens",
        "tool_call_count",
        "outcome_badge",
    ]
    list_select_related = ["agent", "chat"]
    list_filter = ["outcome", "agent", "provider", "model_name"]
    search_fields = ["model_name", "error", "chat__title"]
    date_hierarchy = "started_at"
    # The log only grows: skip the second COUNT(*) of the whole table on filtered pages.
    show_full_result_count = False
    fields = [
        "agent",
        "chat_link",
        "message_link",
        "provider",
        "model_name",
        "started_at",
        "latency",
        "input_tokens",
        "output_tokens",
        "outcome_badge",
        "error_detail",
        "tool_calls_json",
        "library_examples",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description=_("chat"), ordering="chat__title")
    def chat_link(self, call: ModelCall) -> SafeString | str:
        if call.chat_id is None:  # a connection check from the agent admin
            return "— connection check"
        return change_link("llm_chat_chat", call.chat_id, call.chat)

    @admin.display(description=_("message"))
    def message_link(self, call: ModelCall) -> SafeString | str:
        if call.message_id is None:
            return self.get_empty_value_display()
        return change_link("llm_chat_message", call.message_id, f"#{call.message_id}")

    @admin.display(description=_("latency"), ordering="latency_ms")
    def latency(self, call: ModelCall) -> str:
        return f"{call.latency_ms:,.0f} ms"

    @admin.display(description=_("tool calls"))
    def tool_call_count(self, call: ModelCall) -> int:
        return len(call.tool_calls or [])

    @admin.display(description=_("outcome"), ordering="outcome")
    def outcome_badge(self, call: ModelCall) -> SafeString:
        colour = "#198754" if call.outcome == ModelCall.Outcome.OK else "#dc3545"
        return badge(colour, call.get_outcome_display())

    @admin.display(description=_("error"))
    def error_detail(self, call: ModelCall) -> str:
        # Written masked since issue 9; rows logged before then may quote a URL with its
        # credentials.
        return mask_urls(call.error) or self.get_empty_value_display()

    @admin.display(description=_("tool calls"))
    def tool_calls_json(self, call: ModelCall) -> SafeString:
        if not call.tool_calls:
            return self.get_empty_value_display()
        text = json.dumps(call.tool_calls, indent=2, ensure_ascii=False)
        return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', text)


def _ms(milliseconds: float) -> str:
    return number_format(round(milliseconds), force_grouping=True)


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record written by a command: read, filtered and deleted, never edited here."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class EvalAnswerInline(admin.TabularInline):
    model = EvalAnswer
    fields = ["position", "question_id", "level", "verdict", "detail", "sql_source", "agent_sql"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(EvalRun)
class EvalRunAdmin(ReadOnlyAdmin):
    """The runs of `manage.py eval_agent`: an agent's execution accuracy over time."""

    list_display = ["started_at", "agent", "model_name", "with_library", "score", "questions_file"]
    list_select_related = ["agent"]
    list_filter = ["agent", "with_library", "questions_file"]
    date_hierarchy = "started_at"
    fields = [
        "agent",
        "model_name",
        "questions_file",
        "with_library",
        "started_at",
        "duration_seconds",
        "score",
    ]
    readonly_fields = fields
    inlines = [EvalAnswerInline]

    @admin.display(description=_("accuracy"), ordering="correct")
    def score(self, run: EvalRun) -> str:
        return f"{run.correct}/{run.total} ({run.accuracy:.0%})"


@admin.register(EvalAnswer)
class EvalAnswerAdmin(ReadOnlyAdmin):
    list_display = ["run", "position", "question_id", "level", "verdict", "sql_source"]
    list_select_related = ["run__agent"]
    list_filter = ["verdict", "level", "run__agent"]
    search_fields = ["question_id", "question", "agent_sql"]
    raw_id_fields = ["run", "chat"]
    fields = [
        "run",
        "position",
        "question_id",
        "level",
        "question",
        "verdict",
        "detail",
        "gold_sql",
        "agent_sql",
        "sql_source",
        "library_examples",
        "chat",
    ]
    readonly_fields = fields

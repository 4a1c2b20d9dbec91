"""Admin for agent configurations.

The API key is never read here: operators see the name of the environment variable and
whether the running process has it set, nothing more.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import models
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from apps.llm_agent.models import Agent


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


def _changelist_link(app_model: str, filters: dict[str, object], label: object) -> SafeString:
    url = reverse(f"admin:{app_model}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, urlencode(filters), label)


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "provider",
        "model_name",
        "data_source",
        "is_active",
        "chat_count",
        "artifact_count",
        "api_key_status",
    ]
    list_filter = ["provider", "is_active", "data_source"]
    search_fields = ["name", "description", "model_name", "api_key_env"]
    ordering = ["name"]
    # Django 6 assumes https for scheme-less URLs; opt in now (a key must not travel in
    # the clear by accident) and keep the form free of the deprecation warning.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["activate", "deactivate"]
    readonly_fields = ["api_key_status", "chat_count", "artifact_count", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "description", "is_active"]}),
        (
            "Model",
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
            "API key",
            {
                "fields": ["api_key_env", "api_key_status"],
                "description": "Only the variable's name is stored. The key stays in the "
                "environment of the server process and is never shown here; the status "
                "below says whether this process has it set.",
            },
        ),
        ("Behaviour", {"fields": ["data_source", "system_prompt"]}),
        ("Usage", {"fields": ["chat_count", "artifact_count", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agent]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                chat_count=_reverse_count("chats"), artifact_count=_reverse_count("artifacts")
            )
        )

    @admin.display(description="API key")
    def api_key_status(self, agent: Agent) -> str:
        if not agent.api_key_env:
            return "— none (keyless server)"
        if agent.api_key_is_set:
            return format_html(
                '<code>{}</code> <span style="color:#198754">✓ set</span>', agent.api_key_env
            )
        return format_html(
            '<code>{}</code> <span style="color:#dc3545">✗ not set</span>', agent.api_key_env
        )

    @admin.display(description="chats", ordering="chat_count")
    def chat_count(self, agent: Agent) -> SafeString | int:
        if not agent.pk:
            return 0
        return _changelist_link("llm_chat_chat", {"agent__id__exact": agent.pk}, agent.chat_count)

    @admin.display(description="artifacts", ordering="artifact_count")
    def artifact_count(self, agent: Agent) -> SafeString | int:
        if not agent.pk:
            return 0
        return _changelist_link(
            "llm_artifact_artifact", {"agent__id__exact": agent.pk}, agent.artifact_count
        )

    def _set_active(self, request: HttpRequest, queryset: QuerySet[Agent], active: bool) -> None:
        selected = list(queryset.order_by())
        # Only rows that really change are updated and logged, so the message is honest.
        changing = [agent for agent in selected if agent.is_active != active]
        if changing:
            Agent.objects.filter(pk__in=[agent.pk for agent in changing]).update(
                # update() skips auto_now, so the timestamp is set here.
                is_active=active,
                updated_at=timezone.now(),
            )
            LogEntry.objects.log_actions(
                user_id=request.user.pk,
                queryset=changing,
                action_flag=CHANGE,
                change_message=[{"changed": {"fields": ["Is active"]}}],
            )
        state = "active" if active else "inactive"
        message = ngettext(
            "%(count)d agent marked as %(state)s.",
            "%(count)d agents marked as %(state)s.",
            len(changing),
        ) % {"count": len(changing), "state": state}
        if unchanged := len(selected) - len(changing):
            message += f" {unchanged} already {'was' if unchanged == 1 else 'were'}."
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(description="Activate selected agents", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._set_active(request, queryset, True)

    @admin.action(description="Deactivate selected agents", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._set_active(request, queryset, False)

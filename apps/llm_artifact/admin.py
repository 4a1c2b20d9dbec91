"""Admin for artifacts: curate the queries agents wrote, see where they came from."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from apps.core.highlight import highlight_sql
from apps.llm_artifact.models import Artifact

# Readable on the admin's light and dark themes alike.
STATUS_COLOURS = {
    Artifact.Status.DRAFT: "#6c757d",
    Artifact.Status.ACTIVE: "#198754",
    Artifact.Status.DEPRECATED: "#b35c00",
    Artifact.Status.FAILED: "#dc3545",
}

# The change page lists this many referencing messages and links to the rest.
MESSAGES_SHOWN = 20


def status_badge(artifact: Artifact) -> SafeString:
    """A coloured pill for an artifact's status; the chat admin's inline shares it."""
    return format_html(
        '<span style="background:{};color:#fff;padding:1px 8px;border-radius:8px;'
        'white-space:nowrap">{}</span>',
        STATUS_COLOURS.get(artifact.status, "#6c757d"),
        artifact.get_status_display(),
    )


def _change_link(app_model: str, pk: int, label: object) -> SafeString:
    return format_html(
        '<a href="{}">{}</a>', reverse(f"admin:{app_model}_change", args=[pk]), label
    )


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "status_badge",
        "artifact_type",
        "owner",
        "agent_link",
        "chat_link",
        "data_source",
        "execution_count",
        "last_executed_at",
        "updated_at",
    ]
    list_display_links = ["title"]
    list_filter = ["status", "artifact_type", "data_source", "agent"]
    list_select_related = ["owner", "agent", "chat"]
    search_fields = ["title", "description", "comment", "sql_query"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["owner", "chat", "agent"]
    actions = ["mark_active", "mark_draft", "mark_deprecated"]
    readonly_fields = [
        "sql_highlighted",
        "origin_links",
        "referencing_messages",
        "execution_count",
        "last_executed_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["title", "artifact_type", "status", "owner"]}),
        (
            "Query",
            {"fields": ["data_source", "sql_highlighted", "sql_query", "query_params"]},
        ),
        ("Presentation", {"fields": ["visualization_config"]}),
        ("Notes", {"fields": ["description", "comment"]}),
        (
            "Origin",
            {"fields": ["chat", "agent", "origin_links", "referencing_messages"]},
        ),
        (
            "Statistics",
            {"fields": ["execution_count", "last_executed_at", "created_at", "updated_at"]},
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Artifact]:
        # The change page reads owner, agent and chat too, not only the changelist.
        return super().get_queryset(request).with_related()

    @admin.display(description="status", ordering="status")
    def status_badge(self, artifact: Artifact) -> SafeString:
        return status_badge(artifact)

    @admin.display(description="agent", ordering="agent__name")
    def agent_link(self, artifact: Artifact) -> SafeString:
        if artifact.agent_id is None:
            return self.get_empty_value_display()
        return _change_link("llm_agent_agent", artifact.agent_id, artifact.agent)

    @admin.display(description="chat", ordering="chat__title")
    def chat_link(self, artifact: Artifact) -> SafeString:
        if artifact.chat_id is None:
            return self.get_empty_value_display()
        return _change_link("llm_chat_chat", artifact.chat_id, artifact.chat)

    @admin.display(description="open")
    def origin_links(self, artifact: Artifact) -> SafeString:
        return format_html(
            "Chat: {} · Agent: {}", self.chat_link(artifact), self.agent_link(artifact)
        )

    @admin.display(description="SQL (highlighted)")
    def sql_highlighted(self, artifact: Artifact) -> SafeString:
        if not artifact.sql_query:
            return self.get_empty_value_display()
        # highlight_sql escapes every token, so LLM-written SQL cannot inject markup.
        return format_html(
            '<div style="max-height:30em;overflow:auto;max-width:60em">{}</div>',
            highlight_sql(artifact.sql_query),
        )

    @admin.display(description="messages that reference it")
    def referencing_messages(self, artifact: Artifact) -> SafeString:
        if artifact.pk is None:
            return self.get_empty_value_display()
        # Reached through the reverse relation: chats are a layer above artifacts.
        related = artifact.messages.select_related("chat").order_by("created_at", "id")
        total = related.count()
        if not total:
            return self.get_empty_value_display()
        items = format_html_join(
            "",
            "<li>{} — {} in {} ({})</li>",
            (
                (
                    _change_link("llm_chat_message", message.pk, f"Message #{message.pk}"),
                    message.get_artifact_action_display(),
                    _change_link("llm_chat_chat", message.chat_id, message.chat),
                    message.get_role_display(),
                )
                for message in related[:MESSAGES_SHOWN]
            ),
        )
        url = reverse("admin:llm_chat_message_changelist")
        all_link = format_html(
            '<a href="{}?{}">{}</a>',
            url,
            urlencode({"artifact__id__exact": artifact.pk}),
            ngettext("All %d message", "All %d messages", total) % total,
        )
        return format_html('<ul style="margin:0;padding-left:1.2em">{}</ul>{}', items, all_link)

    def _set_status(
        self, request: HttpRequest, queryset: QuerySet[Artifact], status: Artifact.Status
    ) -> None:
        selected = list(queryset.order_by())
        # Only rows that really change are updated and logged, so the message is honest.
        changing = [artifact for artifact in selected if artifact.status != status]
        if changing:
            Artifact.objects.filter(pk__in=[artifact.pk for artifact in changing]).update(
                # update() skips auto_now, so the timestamp is set here.
                status=status,
                updated_at=timezone.now(),
            )
            LogEntry.objects.log_actions(
                user_id=request.user.pk,
                queryset=changing,
                action_flag=CHANGE,
                change_message=[{"changed": {"fields": ["Status"]}}],
            )
        label = status.label.lower()
        message = ngettext(
            "%(count)d artifact marked as %(status)s.",
            "%(count)d artifacts marked as %(status)s.",
            len(changing),
        ) % {"count": len(changing), "status": label}
        if unchanged := len(selected) - len(changing):
            message += f" {unchanged} already {'was' if unchanged == 1 else 'were'}."
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(description="Mark as active", permissions=["change"])
    def mark_active(self, request: HttpRequest, queryset: QuerySet[Artifact]) -> None:
        self._set_status(request, queryset, Artifact.Status.ACTIVE)

    @admin.action(description="Mark as draft", permissions=["change"])
    def mark_draft(self, request: HttpRequest, queryset: QuerySet[Artifact]) -> None:
        self._set_status(request, queryset, Artifact.Status.DRAFT)

    @admin.action(description="Mark as deprecated", permissions=["change"])
    def mark_deprecated(self, request: HttpRequest, queryset: QuerySet[Artifact]) -> None:
        self._set_status(request, queryset, Artifact.Status.DEPRECATED)

"""Admin for chats and their messages.

Messages and artifacts show on a chat's page as read-only inlines: they are the record of
what happened, so they are edited (if ever) on their own change pages. The model-call log they
produce is the agent app's (apps/llm_agent/admin.py).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from apps.accounts.admin import ShareInline, SharingAdminMixin
from apps.core.admin import change_link, changelist_link
from apps.llm_artifact.admin import status_badge
from apps.llm_artifact.models import Artifact
from apps.llm_chat.models import Chat, ChatShare, Message, MessageArtifact

SHORT_CONTENT_CHARS = 80


def _short_content(message: Message) -> str:
    # Returned as plain text: the admin escapes it, which LLM output needs.
    return Truncator(message.content).chars(SHORT_CONTENT_CHARS) or "—"


def _artifact_with_action(message: Message) -> SafeString | None:
    if message.artifact_id is None:
        return None
    return format_html(
        "{} {}",
        message.get_artifact_action_display(),
        change_link("llm_artifact_artifact", message.artifact_id, message.artifact),
    )


def _tokens(message: Message) -> str | None:
    if message.input_tokens is None and message.output_tokens is None:
        return None
    return f"{message.input_tokens or 0} in / {message.output_tokens or 0} out"


class ReadOnlyInline(admin.TabularInline):
    """An inline that only lists; each row links to its own change page."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ["role", "status", "short_content", "artifact_with_action", "tokens", "created_at"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return super().get_queryset(request).with_artifact()

    @admin.display(description=_("content"))
    def short_content(self, message: Message) -> str:
        return _short_content(message)

    # Read-only fields print None as "None", so the empty marker is given explicitly.
    @admin.display(description=_("artifact"))
    def artifact_with_action(self, message: Message) -> SafeString:
        return _artifact_with_action(message) or self.get_empty_value_display()

    @admin.display(description=_("tokens"))
    def tokens(self, message: Message) -> str:
        return _tokens(message) or self.get_empty_value_display()


class ArtifactInline(ReadOnlyInline):
    model = Artifact
    fk_name = "chat"
    fields = [
        "title",
        "badge",
        "artifact_type",
        "data_source",
        "execution_count",
        "last_executed_at",
        "updated_at",
    ]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    @admin.display(description=_("status"))
    def badge(self, artifact: Artifact) -> SafeString:
        return status_badge(artifact)


class ChatShareInline(ShareInline):
    model = ChatShare
    # Chats are shared read-only.
    fields = ["group"]


@admin.register(Chat)
class ChatAdmin(SharingAdminMixin, admin.ModelAdmin):
    list_display = [
        "title",
        "owner",
        "visibility",
        "agent",
        "message_count",
        "artifact_count",
        "created_at",
        "updated_at",
    ]
    list_select_related = ["owner", "agent"]
    list_filter = ["visibility", "agent"]
    search_fields = ["title", "owner__username"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["owner", "agent"]
    fields = [
        "title",
        "owner",
        "visibility",
        "agent",
        "message_count",
        "artifact_count",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["message_count", "artifact_count", "created_at", "updated_at"]
    # Staff see every chat here; sharing changes made here are in the sharing history.
    inlines = [ChatShareInline, MessageInline, ArtifactInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Chat]:
        return super().get_queryset(request).with_counts()

    @admin.display(description=_("messages"), ordering="message_count")
    def message_count(self, chat: Chat) -> SafeString | int:
        if chat.pk is None:
            return 0
        return changelist_link("llm_chat_message", {"chat__id__exact": chat.pk}, chat.message_count)

    @admin.display(description=_("artifacts"), ordering="artifact_count")
    def artifact_count(self, chat: Chat) -> SafeString | int:
        if chat.pk is None:
            return 0
        return changelist_link(
            "llm_artifact_artifact", {"chat__id__exact": chat.pk}, chat.artifact_count
        )


class MessageArtifactInline(ReadOnlyInline):
    """Every artifact the message created, updated or ran (the main one is also on the
    message), with the parameter values it used."""

    model = MessageArtifact
    fields = ["artifact_link", "action", "params", "created_at"]
    readonly_fields = fields
    ordering = ["created_at", "id"]
    show_change_link = False
    verbose_name = "artifact link"

    def get_queryset(self, request: HttpRequest) -> QuerySet[MessageArtifact]:
        return super().get_queryset(request).select_related("artifact")

    @admin.display(description=_("artifact"))
    def artifact_link(self, link: MessageArtifact) -> SafeString:
        return change_link("llm_artifact_artifact", link.artifact_id, link.artifact)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "chat_link",
        "role",
        "status",
        "short_content",
        "artifact_with_action",
        "tokens",
        "created_at",
    ]
    list_select_related = ["chat", "artifact"]
    list_filter = ["role", "status", "artifact_action"]
    search_fields = ["content"]
    date_hierarchy = "created_at"
    raw_id_fields = ["chat", "artifact", "reply_to"]
    readonly_fields = ["created_at", "lease_owner", "lease_expires_at", "stop_requested"]
    inlines = [MessageArtifactInline]
    fieldsets = [
        (None, {"fields": ["chat", "role", "status", "content", "error", "reply_to"]}),
        (_("Artifact"), {"fields": ["artifact", "artifact_action"]}),
        (
            _("Provider"),
            {"fields": ["input_tokens", "output_tokens", "model_messages", "created_at"]},
        ),
        # Which process writes a pending reply, until when, and whether Stop was pressed.
        (_("Writer"), {"fields": ["lease_owner", "lease_expires_at", "stop_requested"]}),
    ]

    def save_model(self, request, obj: Message, form, change: bool) -> None:
        # The page shows a final reply's stored HTML: an operator's edit renders it again.
        obj.render_html()
        super().save_model(request, obj, form, change)

    @admin.display(description=_("chat"), ordering="chat__title")
    def chat_link(self, message: Message) -> SafeString:
        return change_link("llm_chat_chat", message.chat_id, message.chat)

    @admin.display(description=_("content"))
    def short_content(self, message: Message) -> str:
        return _short_content(message)

    @admin.display(description=_("artifact"), ordering="artifact__title")
    def artifact_with_action(self, message: Message) -> SafeString | None:
        return _artifact_with_action(message)

    @admin.display(description=_("tokens"))
    def tokens(self, message: Message) -> str | None:
        return _tokens(message)

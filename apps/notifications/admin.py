"""Admin for notifications and deliveries: what was said to whom, what a webhook receiver
answered on each try, and a retry for the deliveries that gave up."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.core.admin import badge, change_link
from apps.notifications.models import (
    DeliveryStatus,
    EmailDelivery,
    Notification,
    WebhookDelivery,
)
from apps.notifications.webhooks import retry_delivery

# Readable on the admin's light and dark themes alike.
STATUS_COLOURS = {
    DeliveryStatus.PENDING: "#6c757d",
    DeliveryStatus.SENDING: "#0d6efd",
    DeliveryStatus.DELIVERED: "#198754",
    DeliveryStatus.FAILED: "#dc3545",
}


def status_badge(delivery: EmailDelivery | WebhookDelivery) -> SafeString:
    return badge(STATUS_COLOURS.get(delivery.status, "#6c757d"), delivery.get_status_display())


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["title", "user", "created_at", "read_at"]
    list_select_related = ["user"]
    list_filter = [("read_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["title", "key", "user__username"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at"]
    date_hierarchy = "created_at"


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(admin.ModelAdmin):
    list_display = ["subject", "to", "user", "status_display", "attempted_at", "sent_at"]
    list_select_related = ["user"]
    list_filter = ["status", "created_at"]
    search_fields = ["subject", "to", "key", "user__username"]
    raw_id_fields = ["user"]
    readonly_fields = [
        "user",
        "key",
        "to",
        "subject",
        "status",
        "error",
        "created_at",
        "attempted_at",
        "sent_at",
    ]

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, delivery: EmailDelivery) -> SafeString:
        return status_badge(delivery)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # emails are sent by the app, not typed in here


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "key",
        "host",
        "status_display",
        "attempts",
        "status_code",
        "short_error",
        "last_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["key", "url", "error"]
    actions = ["retry"]
    fields = [
        "key",
        "url",
        "status",
        "attempts",
        "status_code",
        "error",
        "job_link",
        "secret_scope",
        "body",
        "created_at",
        "last_attempt_at",
        "delivered_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("host"))
    def host(self, delivery: WebhookDelivery) -> str:
        return urlsplit(delivery.url).netloc

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, delivery: WebhookDelivery) -> SafeString:
        return status_badge(delivery)

    @admin.display(description=_("last error"))
    def short_error(self, delivery: WebhookDelivery) -> str:
        return delivery.error[:120]

    @admin.display(description=_("job"))
    def job_link(self, delivery: WebhookDelivery) -> SafeString | str:
        if not delivery.job_id:
            return "—"
        try:
            return change_link("jobs_job", delivery.job_id, delivery.job_id)
        except NoReverseMatch:  # the jobs admin is not installed
            return str(delivery.job_id)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # deliveries are made by send_webhook, with a derived secret

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a record of what happened; the retry action is the one verb

    @admin.action(description=_("Retry the selected deliveries that gave up or were stranded"))
    def retry(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        retried = sum(retry_delivery(delivery) for delivery in queryset)
        skipped = queryset.count() - retried
        if retried:
            messages.success(
                request,
                ngettext(
                    "Queued %(count)d delivery again.",
                    "Queued %(count)d deliveries again.",
                    retried,
                )
                % {"count": retried},
            )
        if skipped:
            messages.warning(
                request,
                ngettext(
                    "%(count)d delivery was not retried: delivered, or still being tried.",
                    "%(count)d deliveries were not retried: delivered, or still being tried.",
                    skipped,
                )
                % {"count": skipped},
            )

"""What was delivered to whom: in-app notifications, emails and webhook deliveries.

Each row carries the caller's idempotency key, so a job that runs twice (its worker died
half-way) finds its earlier delivery and does not notify twice. The services that write them
are in `apps/notifications/services.py` (in-app, email) and `webhooks.py` (webhooks).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class NotificationQuerySet(models.QuerySet):
    def for_user(self, user) -> NotificationQuerySet:
        """A user's own notifications: nobody else's, staff included (operators use the admin)."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(user=user)

    def unread(self) -> NotificationQuerySet:
        return self.filter(read_at__isnull=True)

    def mark_read(self) -> int:
        """Mark these as read now (those already read keep their time); returns how many."""
        return self.unread().update(read_at=timezone.now())


class Notification(models.Model):
    """One message in a user's bell: a title, a few words, and a link to what it is about."""

    # Deleting a user deletes what was said to them.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    # The caller's idempotency key ("alert:12:run:345"): one notification per user and key.
    key = models.CharField(_("key"), max_length=200)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), blank=True)
    # A path on this site ("/artifacts/12/"): what the notification is about.
    url = models.CharField(_("link"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="notification_user_key_unique"),
            # Only links on this site: a notification never sends anyone elsewhere.
            models.CheckConstraint(
                condition=Q(url="") | (Q(url__startswith="/") & ~Q(url__startswith="//")),
                name="notification_url_on_site",
            ),
        ]
        indexes = [
            # The bell: a user's unread count and latest notifications.
            models.Index(fields=["user", "read_at"], name="notification_user_read_idx"),
            models.Index(fields=["user", "-created_at"], name="notification_user_latest_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    def mark_read(self) -> None:
        if self.read_at is None:
            self.read_at = timezone.now()
            Notification.objects.filter(pk=self.pk, read_at__isnull=True).update(
                read_at=self.read_at
            )


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    DELIVERED = "delivered", _("Delivered")
    # Gave up: a permanent refusal (4xx, a forbidden destination) or out of attempts.
    FAILED = "failed", _("Failed")


class EmailDelivery(models.Model):
    """An email sent to a user for a key: the record that keeps it to once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="email_deliveries",
    )
    key = models.CharField(_("key"), max_length=200)
    to = models.EmailField(_("to"))
    subject = models.CharField(_("subject"), max_length=300)
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.SENDING
    )
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # When the latest try began: a try that has been "sending" for long died with its worker.
    attempted_at = models.DateTimeField(_("last attempt"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("email delivery")
        verbose_name_plural = _("email deliveries")
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="email_delivery_user_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to}"


class WebhookDelivery(models.Model):
    """One webhook POST (with its retries) to one URL: what was sent, how each try went.

    The signing secret is not stored: `secret_scope` names it, and the worker derives it from
    SECRET_KEY when it signs (`apps.notifications.webhooks.webhook_secret`).
    """

    # The caller's idempotency key, sent as the Idempotency-Key header: receivers dedupe by it.
    key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    url = models.URLField(_("URL"), max_length=2000)
    # The exact JSON body, serialized once: every attempt sends the same bytes.
    body = models.TextField(_("body"))
    secret_scope = models.CharField(_("secret scope"), max_length=200)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
        db_index=True,
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    status_code = models.PositiveSmallIntegerField(_("last status code"), null=True, blank=True)
    error = models.TextField(_("last error"), blank=True)
    # The job that delivers it (the latest, after an operator's retry).
    job = models.ForeignKey(
        "jobs.Job",
        verbose_name=_("job"),
        on_delete=models.SET_NULL,  # the delivery's record outlives the queue's cleanup
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")

    def __str__(self) -> str:
        return f"{self.key} → {self.url}"

    @property
    def is_finished(self) -> bool:
        return self.status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)

"""API tokens: django-rest-knox keeps only a digest of each secret, several per user."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.models import AbstractAuthToken, AuthTokenManager

# A token used again within this long keeps its recorded last use: one write a minute at most.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenQuerySet(models.QuerySet):
    def owned_by(self, user) -> ApiTokenQuerySet:
        return self.filter(user=user)

    def active(self) -> ApiTokenQuerySet:
        return self.filter(Q(expiry__isnull=True) | Q(expiry__gt=timezone.now()))


class ApiTokenManager(AuthTokenManager.from_queryset(ApiTokenQuerySet)):
    """`create(user, name=...)` returns `(token, secret)`; only the digest is stored."""


class ApiToken(AbstractAuthToken):
    # The label the user gave it, to tell their tokens apart ("laptop", "CI").
    name = models.CharField(max_length=100, blank=True)
    last_used = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenManager()

    class Meta:
        verbose_name = "API token"
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name or 'API token'} of {self.user} ({self.token_key[:8]}…)"

    @property
    def is_expired(self) -> bool:
        return self.expiry is not None and self.expiry <= timezone.now()

    def mark_used(self) -> None:
        now = timezone.now()
        if self.last_used is None or now - self.last_used >= LAST_USED_RESOLUTION:
            self.last_used = now
            ApiToken.objects.filter(pk=self.pk).update(last_used=now)


class SharingChange(models.Model):
    """A history of sharing: who changed whose visibility, shares or owner, and to what."""

    # "llm_artifact.artifact" / "llm_chat.chat" and the row's id: the history outlives the row.
    subject_type = models.CharField(max_length=64)
    subject_id = models.PositiveBigIntegerField()
    subject_title = models.CharField(max_length=200)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    # What changed, as a sentence: "visibility: private → groups; analysts: view → edit".
    change = models.TextField()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "-at"], name="sharingchange_subject")
        ]

    def __str__(self) -> str:
        return f"{self.subject_type} {self.subject_id}: {self.change}"


class Profile(models.Model):
    """A user's own settings. Made on first save of a setting, so most users have none."""

    # Deleting the user deletes their settings.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="profile",
        verbose_name=_("user"),
    )
    # Blank: follow the browser's Accept-Language.
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("Pages, messages and e-mails in this language. Blank follows the browser."),
    )

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")

    def __str__(self) -> str:
        return str(self.user)

    @classmethod
    def language_of(cls, user) -> str:
        """The user's chosen language code, or '' to follow the browser."""
        return cls.objects.filter(user=user).values_list("language", flat=True).first() or ""

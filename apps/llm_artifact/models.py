from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse

from apps.llm_agent.models import validate_data_source
from apps.llm_artifact.parameters import validate_declarations


def default_visualization_config() -> dict:
    return {}


def default_query_params() -> list:
    return []


def validate_visualization_config(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError(
            "The visualization config must be a JSON object ({} for a table only).",
            code="not_an_object",
        )


class ArtifactQuerySet(models.QuerySet):
    def visible_to(self, user) -> ArtifactQuerySet:
        """Staff see every artifact; everyone else only their own."""
        if not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(owner=user)

    def with_related(self) -> ArtifactQuerySet:
        return self.select_related("owner", "agent", "chat")


class Artifact(models.Model):
    class ArtifactType(models.TextChoices):
        SQL_QUERY = "sql_query", "SQL query"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        DEPRECATED = "deprecated", "Deprecated"
        FAILED = "failed", "Failed"

    title = models.CharField(max_length=200)
    artifact_type = models.CharField(
        max_length=32, choices=ArtifactType.choices, default=ArtifactType.SQL_QUERY
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    sql_query = models.TextField("SQL", blank=True)
    query_params = models.JSONField(
        "parameters",
        default=default_query_params,
        blank=True,
        validators=[validate_declarations],
        help_text='List of {"name", "type", "label", "default", "required"} declarations.',
    )
    visualization_config = models.JSONField(
        default=default_visualization_config,
        blank=True,
        validators=[validate_visualization_config],
    )
    data_source = models.CharField(max_length=64, validators=[validate_data_source])
    # Artifacts outlive the chat and agent that made them: a deleted chat must not take
    # curated queries with it.
    chat = models.ForeignKey(
        "llm_chat.Chat",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="artifacts",
    )
    agent = models.ForeignKey(
        "llm_agent.Agent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="artifacts",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="artifacts"
    )
    description = models.TextField(blank=True)
    comment = models.TextField(blank=True)
    execution_count = models.PositiveIntegerField(default=0, editable=False)
    last_executed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = ArtifactQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="artifact_owner_created"),
            models.Index(fields=["status"], name="artifact_status"),
            models.Index(fields=["data_source"], name="artifact_data_source"),
            models.Index(fields=["-last_executed_at"], name="artifact_last_executed"),
            models.Index(fields=["-execution_count"], name="artifact_execution_count"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["draft", "active", "deprecated", "failed"]),
                name="artifact_status_known",
            ),
            models.CheckConstraint(
                condition=Q(artifact_type__in=["sql_query"]),
                name="artifact_type_known",
            ),
            models.CheckConstraint(
                condition=~Q(artifact_type="sql_query") | ~Q(sql_query=""),
                name="artifact_sql_query_not_empty",
                violation_error_message="An SQL query artifact needs its SQL.",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("llm_artifact:artifact_detail", args=[self.pk])

    def clean(self) -> None:
        super().clean()
        errors: dict[str, list] = {}
        # Field validators skip "empty" values such as None and [], so the JSON shapes are
        # checked here as well, where nothing is skipped.
        for field, validate in (
            ("visualization_config", validate_visualization_config),
            ("query_params", validate_declarations),
        ):
            if getattr(self, field) in (None, [], "", ()):
                try:
                    validate(getattr(self, field))
                except ValidationError as exc:
                    errors[field] = exc.messages
        if self.artifact_type == self.ArtifactType.SQL_QUERY and not self.sql_query.strip():
            errors["sql_query"] = ["An SQL query artifact needs its SQL."]
        if errors:
            raise ValidationError(errors)

    @property
    def sql_preview(self) -> str:
        """The first lines of SQL, for cards and lists."""
        lines = self.sql_query.strip().splitlines()
        preview = "\n".join(lines[:6])
        return preview + ("\n…" if len(lines) > 6 else "")

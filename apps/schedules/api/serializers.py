from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied

from apps.core.serializers import ModelCleanSerializer
from apps.llm_artifact.models import Artifact
from apps.notifications.webhooks import webhook_secret
from apps.schedules.models import Alert, Schedule, Subscription


class VisibleTo(serializers.PrimaryKeyRelatedField):
    """A foreign key among the rows the requester may see (others are "does not exist")."""

    def __init__(self, model, **kwargs) -> None:
        self.model = model
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.model.objects.visible_to(self.context["request"].user)


class ScheduleSerializer(ModelCleanSerializer):
    artifact = VisibleTo(Artifact)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    description = serializers.CharField(source="describe", read_only=True)
    params = serializers.JSONField(
        required=False,
        help_text=(
            "Parameter values by name, as a run takes them; relative dates such as "
            "'today -7 days' stay relative and are resolved at each refresh."
        ),
    )

    class Meta:
        model = Schedule
        fields = [
            "id",
            "artifact",
            "owner",
            "kind",
            "every_minutes",
            "minute",
            "time_of_day",
            "weekday",
            "cron",
            "params",
            "description",
            "enabled",
            "paused_reason",
            "consecutive_failures",
            "next_run_at",
            "last_run_at",
            "last_outcome",
            "last_error",
            "created_at",
        ]
        read_only_fields = [
            "enabled",
            "paused_reason",
            "consecutive_failures",
            "next_run_at",
            "last_run_at",
            "last_outcome",
            "last_error",
            "created_at",
        ]

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, list):
            # A schedule stays on its artifact.
            fields["artifact"].read_only = True
        return fields


class AlertSerializer(ModelCleanSerializer):
    schedule = VisibleTo(Schedule)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    webhook_secret = serializers.SerializerMethodField(
        help_text="The key of the HMAC that signs this alert's webhook bodies: for the "
        "artifact's owner and editors only (null for the others)."
    )

    class Meta:
        model = Alert
        fields = [
            "id",
            "schedule",
            "name",
            "owner",
            "condition",
            "column",
            "operator",
            "threshold",
            "filter_column",
            "filter_value",
            "enabled",
            "last_triggered_at",
            "last_outcome",
            "webhook_secret",
            "created_at",
        ]
        read_only_fields = ["last_triggered_at", "last_outcome", "created_at"]

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, list):
            fields["schedule"].read_only = True
        return fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_webhook_secret(self, alert: Alert) -> str | None:
        if not self.context["request"].user.has_perm("schedules.change", alert):
            return None
        return webhook_secret(alert.webhook_scope())


class SubscriptionSerializer(ModelCleanSerializer):
    alert = VisibleTo(Alert)
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Subscription
        fields = ["id", "alert", "user", "channel", "webhook_url", "created_at"]
        read_only_fields = ["created_at"]

    def validate(self, attrs):
        user = self.context["request"].user
        webhook = attrs.get("channel") == Subscription.Channel.WEBHOOK
        if webhook and not user.has_perm("schedules.change", attrs["alert"]):
            # Before the URL is looked at: who may not add a webhook learns nothing of it.
            raise PermissionDenied(
                "Only the artifact's owner and editors add webhooks; subscribe in-app or by email."
            )
        # The subscriber is the requester: set before the model's checks (one per channel).
        attrs["user"] = user
        return super().validate(attrs)

    def _fields_not_to_check(self) -> set[str]:
        return super()._fields_not_to_check() - {"user", "alert"}

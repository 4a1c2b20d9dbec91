from __future__ import annotations

from rest_framework import serializers

from apps.notifications.models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    is_read = serializers.BooleanField(read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "title", "body", "url", "created_at", "read_at", "is_read"]
        read_only_fields = fields
        extra_kwargs = {"url": {"help_text": "A path on this site: what it is about."}}


class MarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many notifications this marked read.")

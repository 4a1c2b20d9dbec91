from __future__ import annotations

from rest_framework import serializers

from apps.core.serializers import ModelCleanSerializer, ModelSerializer
from apps.llm_agent.api.serializers import UsableAgentField
from apps.llm_artifact.api.serializers import ArtifactSummarySerializer
from apps.llm_chat.models import Chat, Message, MessageArtifact


class ChatSerializer(ModelCleanSerializer):
    """A conversation between a user and an agent."""

    url = serializers.HyperlinkedIdentityField(view_name="api:chat-detail")
    messages_url = serializers.HyperlinkedIdentityField(view_name="api:chat-messages")
    # New conversations go only to agents in service; retired ones keep their old chats.
    agent = UsableAgentField(
        help_text="An active agent the user may use.",
        error_messages={"does_not_exist": "No active agent has id {pk_value}."},
    )
    agent_name = serializers.CharField(source="agent.name", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True)
    # Annotated by Chat.objects.with_counts().
    message_count = serializers.IntegerField(read_only=True)
    artifact_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Chat
        fields = [
            "id",
            "url",
            "title",
            "agent",
            "agent_name",
            "owner",
            "message_count",
            "artifact_count",
            "messages_url",
            "created_at",
            "updated_at",
        ]


class LinkedArtifactSerializer(serializers.ModelSerializer):
    """An artifact a message created, updated or ran, what it did, and with which values."""

    artifact = ArtifactSummarySerializer(read_only=True)
    params = serializers.DictField(
        read_only=True,
        help_text="The parameter values the message used the artifact with ({} for its "
        "defaults): its card runs with them.",
    )

    class Meta:
        model = MessageArtifact
        fields = ["action", "artifact", "params"]
        read_only_fields = fields


class MessageSerializer(ModelSerializer):
    """A chat message; clients write only `content`, which posts a user message."""

    artifact = ArtifactSummarySerializer(
        read_only=True,
        allow_null=True,
        help_text="The main artifact the message links (the first it created or updated).",
    )
    artifacts = LinkedArtifactSerializer(
        source="links",
        many=True,
        read_only=True,
        help_text="Every artifact the message created or updated, in order.",
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "chat",
            "role",
            "content",
            "status",
            "error",
            "reply_to",
            "artifact",
            "artifact_action",
            "artifacts",
            "input_tokens",
            "output_tokens",
            "created_at",
        ]
        read_only_fields = [name for name in fields if name != "content"]
        extra_kwargs = {
            "content": {"required": True},
            "reply_to": {"help_text": "For an assistant reply: the user message it answers."},
            "error": {"help_text": "Why the reply failed (status error), in plain words."},
        }

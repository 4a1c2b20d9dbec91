from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.accounts.api.sharing import ChatShareSerializer, SharingFieldsMixin
from apps.core.serializers import ModelCleanSerializer, ModelSerializer
from apps.llm_agent.api.serializers import UsableAgentField
from apps.llm_artifact.api.serializers import ArtifactSummarySerializer
from apps.llm_chat.models import Chat, Message, MessageArtifact


class ChatSerializer(SharingFieldsMixin, ModelCleanSerializer):
    """A conversation between a user and an agent, and who may read it."""

    # Renaming is the owner's alone, like posting (Chat.can_post): staff read.
    edit_permission = "chats.post"
    share_permission = "chats.share"

    url = serializers.HyperlinkedIdentityField(view_name="api:chat-detail")
    messages_url = serializers.HyperlinkedIdentityField(view_name="api:chat-messages")
    # New conversations go only to agents in service; retired ones keep their old chats.
    agent = UsableAgentField(
        help_text="An active agent the user may use.",
        error_messages={"does_not_exist": _("No active agent has id {pk_value}.")},
    )
    agent_name = serializers.CharField(source="agent.name", read_only=True)
    shares = ChatShareSerializer(
        many=True,
        required=False,
        help_text="The groups whose members may read it (while visibility is not private); "
        "chats are shared read-only. A list given replaces them all. Only the owner and "
        "staff may change them.",
    )
    # Annotated by Chat.objects.with_counts().
    message_count = serializers.IntegerField(read_only=True)
    artifact_count = serializers.IntegerField(read_only=True)
    language = serializers.CharField(
        read_only=True,
        help_text="The language the agent writes the chat's artifacts in: the request's when "
        "the chat was created (the user's choice, else Accept-Language).",
    )

    class Meta:
        model = Chat
        fields = [
            "id",
            "url",
            "title",
            "agent",
            "agent_name",
            "owner",
            "visibility",
            "shares",
            "language",
            "can_edit",
            "can_manage",
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

    def to_representation(self, link: MessageArtifact) -> dict:
        data = super().to_representation(link)
        if not _may_see(self, link.artifact_id):
            # The link is there (a card the reader may not open); what it ran is not.
            data["artifact"] = None
            data["params"] = {}
        return data


def _may_see(field: serializers.Field, artifact_id: int | None) -> bool:
    """Whether the reader may see the artifact: the ids the view read in one query
    (`visible_artifact_ids`, Artifact.objects.visible_to); all when it gave none."""
    visible = field.context.get("visible_artifact_ids")
    return artifact_id is None or visible is None or artifact_id in visible


class MessageSerializer(ModelSerializer):
    """A chat message; clients write only `content`, which posts a user message."""

    artifact = ArtifactSummarySerializer(
        read_only=True,
        allow_null=True,
        help_text="The main artifact the message links (the first it created or updated); "
        "null also when that artifact is not shared with you (artifact_action still says "
        "what the message did).",
    )
    artifacts = LinkedArtifactSerializer(
        source="links",
        many=True,
        read_only=True,
        help_text="Every artifact the message created or updated, in order; one not shared "
        "with you shows as null, with its action only.",
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

    def to_representation(self, message: Message) -> dict:
        data = super().to_representation(message)
        if not _may_see(self, message.artifact_id):
            data["artifact"] = None
        return data

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.serializers import ModelCleanSerializer
from apps.datasources.sources import default_data_source_name
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.parameters import ParamType

# The JSON fields are checked by the model; these schemas only tell API clients their shape.
PARAMETER_DECLARATIONS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Identifier used in the SQL as :name."},
            "type": {"type": "string", "enum": list(ParamType.values)},
            "label": {"type": "string"},
            "default": {"description": "A value of the declared type, or null."},
            "required": {"type": "boolean"},
        },
        "required": ["name", "type"],
        "additionalProperties": False,
    },
}


@extend_schema_field(PARAMETER_DECLARATIONS_SCHEMA)
class ParameterDeclarationsField(serializers.JSONField):
    pass


@extend_schema_field({"type": "object", "additionalProperties": True})
class VisualizationConfigField(serializers.JSONField):
    pass


class ArtifactSummarySerializer(serializers.ModelSerializer):
    """What a chat message shows of the artifact it links."""

    url = serializers.HyperlinkedIdentityField(view_name="api:artifact-detail")

    class Meta:
        model = Artifact
        fields = ["id", "title", "artifact_type", "status", "url"]
        read_only_fields = fields


class ArtifactSerializer(ModelCleanSerializer):
    """A saved SQL query with its parameter declarations and chart settings."""

    url = serializers.HyperlinkedIdentityField(view_name="api:artifact-detail")
    owner = serializers.CharField(source="owner.username", read_only=True)
    query_params = ParameterDeclarationsField(
        required=False, help_text=Artifact._meta.get_field("query_params").help_text
    )
    visualization_config = VisualizationConfigField(required=False)

    class Meta:
        model = Artifact
        fields = [
            "id",
            "url",
            "title",
            "artifact_type",
            "status",
            "sql_query",
            "query_params",
            "visualization_config",
            "data_source",
            "chat",
            "agent",
            "owner",
            "description",
            "comment",
            "execution_count",
            "last_executed_at",
            "last_error",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "data_source": {
                "default": default_data_source_name,
                "help_text": "A configured data source; the server's default when left out.",
            },
            "chat": {
                "help_text": "One of your chats.",
                "error_messages": {"does_not_exist": "You have no chat with id {pk_value}."},
            },
        }

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # Linking an artifact to a chat the requester cannot see would leak it to them.
        request = self.context.get("request")
        user = getattr(request, "user", None)
        chats = fields["chat"].queryset
        fields["chat"].queryset = chats.visible_to(user) if user else chats.none()
        return fields

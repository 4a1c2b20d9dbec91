from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.serializers import ModelCleanSerializer
from apps.datasources.executor import ColumnType
from apps.datasources.exports import EXPORT_FORMATS
from apps.datasources.sources import default_data_source_name
from apps.llm_artifact.models import Artifact, ArtifactRun
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


# --- runs and exports -----------------------------------------------------------------------

PARAMETER_VALUES_HELP = (
    "Values for the artifact's declared parameters, keyed by name. Strings are coerced to "
    "the declared type; parameters left out take their default."
)


@extend_schema_field(
    {"type": "object", "additionalProperties": True, "description": PARAMETER_VALUES_HELP}
)
class ParameterValuesField(serializers.DictField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "enum": [
            ColumnType.INTEGER,
            ColumnType.NUMBER,
            ColumnType.TEXT,
            ColumnType.BOOLEAN,
            ColumnType.DATE,
            ColumnType.DATETIME,
            ColumnType.UNKNOWN,
        ],
    }
)
class ColumnTypeField(serializers.CharField):
    pass


class ArtifactRunSerializer(serializers.ModelSerializer):
    """One run of an artifact, whatever its outcome."""

    user = serializers.CharField(
        source="user.username", read_only=True, allow_null=True, help_text="Who ran it."
    )
    params = serializers.JSONField(
        read_only=True, help_text="The parameter values used, after coercion and defaults."
    )

    class Meta:
        model = ArtifactRun
        fields = [
            "id",
            "outcome",
            "started_at",
            "duration_ms",
            "row_count",
            "truncated",
            "error",
            "params",
            "data_source",
            "user",
        ]
        read_only_fields = fields


class ExecuteSerializer(serializers.Serializer):
    """What to run an artifact with."""

    params = ParameterValuesField(required=False, default=dict)


class ResultColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = ColumnTypeField()


class QueryResultSerializer(serializers.Serializer):
    """A successful run's rows, at most the data source's display cap."""

    columns = ResultColumnSerializer(many=True)
    rows = serializers.ListField(
        child=serializers.ListField(child=serializers.JSONField()),
        help_text="One list of values per row, in column order; NULL is null.",
    )
    row_count = serializers.IntegerField(help_text="How many rows `rows` holds.")
    truncated = serializers.BooleanField(
        help_text="True when the query had more rows than the display cap; export for all."
    )
    duration_ms = serializers.FloatField()
    run_id = serializers.IntegerField(help_text="The recorded run (see the runs endpoint).")


class RunFailedSerializer(serializers.Serializer):
    """The query was refused, failed or timed out. The run is recorded all the same."""

    detail = serializers.CharField(help_text="Why, in plain words.")
    outcome = serializers.ChoiceField(choices=ArtifactRun.Outcome.choices)
    run_id = serializers.IntegerField()


class ParameterErrorsSerializer(serializers.Serializer):
    """Bad, missing or unknown parameter values; nothing ran and nothing was recorded."""

    params = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages keyed by parameter name.",
    )


class ExportFormatErrorSerializer(serializers.Serializer):
    """The export's `format` is not one of the file types."""

    format = serializers.ListField(child=serializers.CharField())


INVALID_FORMAT = '"{input}" is not an export format; use ' + ", ".join(EXPORT_FORMATS) + "."


class ExportQuerySerializer(serializers.Serializer):
    """The export endpoint's own query parameter; every other one is a parameter value."""

    format = serializers.ChoiceField(
        choices=list(EXPORT_FORMATS),
        default="csv",
        error_messages={"invalid_choice": INVALID_FORMAT},
    )

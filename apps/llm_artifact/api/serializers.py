from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.api.sharing import ShareSerializer, SharingFieldsMixin
from apps.core.serializers import ErrorSerializer, ModelCleanSerializer, Serializer
from apps.datasources.api.serializers import usable_source
from apps.datasources.executor import ColumnType
from apps.datasources.exports import EXPORT_FORMATS
from apps.datasources.sources import default_data_source_name, validate_data_source
from apps.llm_artifact.column_values import MAX_VALUES as MAX_COLUMN_VALUES
from apps.llm_artifact.models import (
    MAX_TAGS,
    Artifact,
    ArtifactRun,
    Tag,
    clean_tag_names,
)
from apps.llm_artifact.parameters import ParamType, describe_parameters, validate_declarations

# The JSON fields are checked by the model; these schemas only tell API clients their shape.
PARAMETER_DECLARATIONS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Identifier used in the SQL as :name."},
            "type": {"type": "string", "enum": list(ParamType.values)},
            "label": {"type": "string"},
            "default": {
                "description": (
                    "A value of the declared type, or null. Date and datetime parameters may "
                    "default to a relative date, evaluated in the server's time zone when the "
                    "artifact runs: today, yesterday, start_of_week (Monday), start_of_month, "
                    "start_of_quarter or start_of_year, then offsets such as -7 days, +1 week, "
                    "-1 month, -2 quarters, -1 year (e.g. start_of_month -1 month). Runs "
                    "record the concrete dates."
                )
            },
            "required": {"type": "boolean"},
            "choices": {
                "type": "array",
                "items": {"type": "string"},
                "description": (
                    "Text parameters only: the values allowed (forms show a select). "
                    "The default, and every value a run gets, must be one of them."
                ),
            },
            "choices_from": {
                "type": "object",
                "properties": {"table": {"type": "string"}, "column": {"type": "string"}},
                "required": ["table", "column"],
                "additionalProperties": False,
                "description": (
                    "Text parameters only, instead of choices: the values allowed are the "
                    "distinct values of this column of the data source (which must exist), "
                    "read when needed and cached for 10 minutes; saving refreshes them."
                ),
            },
        },
        "required": ["name", "type"],
        "additionalProperties": False,
    },
}

# How the API describes each declared parameter as a run takes it today.
PARAMETER_DESCRIPTIONS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "type": {"type": "string", "enum": list(ParamType.values)},
            "label": {"type": "string"},
            "required": {"type": "boolean"},
            "default": {"description": "The default as declared (a relative date as written)."},
            "relative_default": {
                "type": "boolean",
                "description": "The default is a relative date such as start_of_month.",
            },
            "default_value": {
                "description": "The value a run takes today when none is given, or null."
            },
            "choices_from": {
                "type": "object",
                "nullable": True,
                "properties": {"table": {"type": "string"}, "column": {"type": "string"}},
            },
            "allowed_values": {
                "type": "array",
                "nullable": True,
                "items": {"type": "string"},
                "description": (
                    "The values a run accepts (fixed, or the first "
                    f"{MAX_COLUMN_VALUES} of the column); null when any value goes or "
                    "when the column could not be read."
                ),
            },
            "allowed_values_more": {
                "type": "boolean",
                "description": "The column holds more values than are listed; they are "
                "accepted too.",
            },
            "allowed_values_error": {
                "type": "string",
                "description": "Why the column's values could not be read (empty if they were).",
            },
        },
    },
}


@extend_schema_field(PARAMETER_DECLARATIONS_SCHEMA)
class ParameterDeclarationsField(serializers.JSONField):
    pass


@extend_schema_field({"type": "object", "additionalProperties": True})
class VisualizationConfigField(serializers.JSONField):
    pass


class ChartProblemSerializer(serializers.Serializer):
    """One problem of a chart spec, where it is and how bad."""

    path = serializers.CharField(
        help_text='Where in the spec, e.g. "encoding.x.field"; empty for the spec as a whole.'
    )
    message = serializers.CharField()
    severity = serializers.ChoiceField(
        choices=["error", "warning"],
        help_text="Errors stop a save; warnings do not (e.g. fields not checked yet).",
    )


class StaffOnlyTextField(serializers.CharField):
    """Read-only text that only staff see; null for everyone else (operators' details)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value: str) -> str | None:
        request = self.context.get("request")
        if not getattr(getattr(request, "user", None), "is_staff", False):
            return None
        return super().to_representation(value)


class ArtifactSummarySerializer(serializers.ModelSerializer):
    """What a chat message shows of the artifact it links."""

    url = serializers.HyperlinkedIdentityField(view_name="api:artifact-detail")

    class Meta:
        model = Artifact
        fields = ["id", "title", "artifact_type", "status", "url"]
        read_only_fields = fields


class TagNamesField(serializers.ListField):
    """An artifact's tags as a list of names (Artifact.set_tags writes them)."""

    child = serializers.CharField(trim_whitespace=True, allow_blank=True)

    def to_representation(self, tags) -> list[str]:
        return sorted((tag.name for tag in tags.all()), key=str.lower)

    def to_internal_value(self, data) -> list[str]:
        names = super().to_internal_value(data)
        try:
            return clean_tag_names(names)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["tags"]) from None


class TagSerializer(serializers.ModelSerializer):
    artifact_count = serializers.IntegerField(
        read_only=True, help_text="Artifacts you may see that carry it."
    )

    class Meta:
        model = Tag
        fields = ["id", "name", "artifact_count"]
        read_only_fields = fields


class VerifySerializer(Serializer):
    question = serializers.CharField(
        required=False,
        allow_blank=False,
        max_length=2000,
        help_text="The question the SQL answers; left out, the artifact's own (which must "
        "not be empty).",
    )


class ArtifactSerializer(SharingFieldsMixin, ModelCleanSerializer):
    """A saved SQL query with its parameter declarations and chart settings, and who may
    see and change it."""

    edit_permission = "artifacts.change"
    share_permission = "artifacts.share"

    url = serializers.HyperlinkedIdentityField(view_name="api:artifact-detail")
    shares = ShareSerializer(
        many=True,
        required=False,
        help_text="The groups it is shared with (they count while visibility is not "
        "private); a list given replaces them all. Only the owner and staff may change them.",
    )
    query_params = ParameterDeclarationsField(
        required=False,
        help_text='List of {"name", "type", "label", "default", "required", "choices", '
        '"choices_from"} declarations. A date\'s default may be relative (start_of_month '
        "-1 month); a text parameter's allowed values may be fixed (choices) or come from "
        'a column (choices_from: {"table", "column"}).',
    )
    parameters = serializers.SerializerMethodField(
        help_text="The declared parameters as a run takes them today: relative defaults "
        "evaluated (default_value) and the allowed values, read from their column."
    )
    visualization_config = VisualizationConfigField(
        required=False,
        help_text='A Vega-Lite spec drawing the run\'s rows as {"data": {"name": "results"}}; '
        "{} for a table only. Checked against the official schema, and its fields against "
        "the columns of the latest successful run.",
    )
    visualization_problems = serializers.SerializerMethodField(
        help_text="What is wrong with the stored chart against the latest result: warnings "
        "(no successful run yet, so its fields are unchecked) and errors that appeared "
        "after it was saved (a later run without a column it draws)."
    )

    last_error_detail = StaffOnlyTextField(
        help_text="Staff only (null for others): what the operators need to fix a failure "
        "of the data source's set-up, which last_error refers to by its reference."
    )
    tags = TagNamesField(
        required=False,
        help_text=f"Tag names (trimmed, at most 50 characters each, at most {MAX_TAGS}); a new "
        "name creates the tag. Writing the list replaces the artifact's tags.",
    )
    verified = serializers.BooleanField(
        source="is_verified",
        read_only=True,
        help_text="An editor vouched that the SQL answers `question` "
        "(POST .../verify/ and .../unverify/). Changing the SQL clears it unless the same "
        "write sends keep_verified: true.",
    )
    verified_by = serializers.CharField(
        source="verified_by.username", read_only=True, allow_null=True
    )
    keep_verified = serializers.BooleanField(
        write_only=True,
        required=False,
        default=False,
        help_text="With a change of sql_query: the editor confirms that the artifact still "
        "answers its question, so it stays verified.",
    )

    class Meta:
        model = Artifact
        fields = [
            "id",
            "url",
            "title",
            "artifact_type",
            "status",
            "sql_query",
            "document",
            "query_params",
            "parameters",
            "visualization_config",
            "visualization_problems",
            "data_source",
            "chat",
            "agent",
            "owner",
            "visibility",
            "shares",
            "can_edit",
            "can_manage",
            "description",
            "comment",
            "question",
            "tags",
            "verified",
            "verified_by",
            "verified_at",
            "keep_verified",
            "execution_count",
            "last_executed_at",
            "last_error",
            "last_error_detail",
            "created_at",
            "updated_at",
            "template_slots",
            "template",
        ]
        extra_kwargs = {
            "document": {
                "help_text": "The content of a type that is not SQL, checked by its entry in "
                "the type registry (apps/llm_artifact/types): a dashboard's "
                '{"tiles": [...], "filters": [...]}. {} for an SQL query.'
            },
            "template_slots": {
                "help_text": 'A template\'s identifier slots: [{"name", "kind", "label", '
                '"table"}], kind one of table, column, date_column, measure_column, '
                "dimension_column (a column slot names its table slot); the SQL writes a slot "
                "as __name__. Empty for an ordinary artifact. Use one with POST "
                ".../instantiate/."
            },
            "template": {
                "read_only": True,
                "help_text": "The template this artifact was made from, if any.",
            },
            "data_source": {
                "default": default_data_source_name,
                "help_text": "A configured data source the user may use; the server's "
                "default when left out.",
                # validate_data_source below: the model's validator would name every source.
                "validators": [],
            },
            "chat": {
                "help_text": "One of your chats (staff: any chat).",
                "error_messages": {"does_not_exist": "You have no chat with id {pk_value}."},
                # The browsable API's form takes an id rather than a select of every chat.
                "style": {"base_template": "input.html", "input_type": "number"},
            },
        }

    @extend_schema_field(PARAMETER_DESCRIPTIONS_SCHEMA)
    def get_parameters(self, artifact: Artifact) -> list[dict]:
        return describe_parameters(artifact.query_params, artifact.data_source)

    @extend_schema_field(ChartProblemSerializer(many=True))
    def get_visualization_problems(self, artifact: Artifact) -> list[dict]:
        return [problem.as_dict() for problem in artifact.visualization_problems()]

    def validate_data_source(self, name: str) -> str:
        return usable_source(self, name)

    def validate_status(self, status: str) -> str:
        instance = self.instance if isinstance(self.instance, Artifact) else Artifact()
        try:
            instance.check_status_choice(status)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages, code="set_by_runs") from None
        return status

    def validate(self, attrs: dict) -> dict:
        # Neither is a column the model's full_clean() can check on a copy.
        kept = {name: attrs.pop(name) for name in ("tags", "keep_verified") if name in attrs}
        return {**super().validate(attrs), **kept}

    def create(self, validated_data: dict) -> Artifact:
        tags = validated_data.pop("tags", None)
        validated_data.pop("keep_verified", None)
        artifact = super().create(validated_data)
        if tags is not None:
            artifact.set_tags(tags)
        return artifact

    def update(self, instance: Artifact, validated_data: dict) -> Artifact:
        tags = validated_data.pop("tags", None)
        instance.keep_verified = validated_data.pop("keep_verified", False)
        artifact = super().update(instance, validated_data)
        if tags is not None:
            artifact.set_tags(tags)
        return artifact

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # Linking an artifact to a chat is a write in that chat: only chats the requester may
        # change (their own; staff any), and one they cannot see is refused like a missing one.
        # Reached through the foreign key's model: the chat app sits above this one.
        user = getattr(self.context.get("request"), "user", None) or AnonymousUser()
        chats = Artifact.chat.field.related_model.objects.editable_by(user)
        fields["chat"].queryset = chats
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

    error_detail = StaffOnlyTextField(
        help_text="Staff only (null for others): the driver's text of a failure of the data "
        "source's set-up, which error refers to by its reference."
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
            "error_detail",
            "params",
            "data_source",
            "user",
        ]
        read_only_fields = fields


class ExecuteSerializer(Serializer):
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


class RunFailedSerializer(ErrorSerializer):
    """The query was refused, failed or timed out. The run is recorded all the same."""

    detail = serializers.CharField(
        help_text="Why, in plain words. A failure of the data source's set-up gives a "
        "reference for the operators; staff also get the operators' detail here."
    )
    outcome = serializers.ChoiceField(choices=ArtifactRun.Outcome.choices)
    run_id = serializers.IntegerField()


@extend_schema_field(
    {
        "oneOf": [
            {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
                "description": "Messages keyed by parameter name.",
            },
            {
                "type": "array",
                "items": {"type": "string"},
                "description": "`params` itself is not an object of values.",
            },
        ]
    }
)
class ParameterMessagesField(serializers.JSONField):
    pass


class ParameterErrorsSerializer(ErrorSerializer):
    """Bad, missing or unknown parameter values (or a body that is not an object of them);
    nothing ran and nothing was recorded."""

    params = ParameterMessagesField(required=False)
    non_field_errors = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="The body is not a JSON object.",
    )


class PreviewSerializer(Serializer):
    """SQL to run before it is saved, with the parameters it would be saved with."""

    sql = serializers.CharField(trim_whitespace=False, allow_blank=True)
    data_source = serializers.CharField(
        default=default_data_source_name,
        help_text="A configured data source; the server's default when left out.",
        validators=[validate_data_source],
    )
    params = ParameterValuesField(required=False, default=dict)

    def validate_data_source(self, name: str) -> str:
        return usable_source(self, name)

    declarations = ParameterDeclarationsField(
        required=False,
        default=list,
        help_text="The parameter declarations the SQL would be saved with (as an artifact's "
        "`query_params`); `params` are checked and coerced by them, defaults applied.",
    )

    def validate_declarations(self, value):
        try:
            validate_declarations(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value


class PreviewResultSerializer(QueryResultSerializer):
    """The rows of a preview: the execute endpoint's answer, with nothing recorded."""

    run_id = serializers.IntegerField(
        allow_null=True, help_text="Always null: a preview is not recorded."
    )


class PreviewInputErrorsSerializer(ErrorSerializer):
    """What is wrong with the request; nothing ran."""

    sql = serializers.ListField(child=serializers.CharField(), required=False)
    data_source = serializers.ListField(child=serializers.CharField(), required=False)
    declarations = serializers.ListField(child=serializers.CharField(), required=False)
    params = ParameterMessagesField(required=False)
    non_field_errors = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="The body is not a JSON object."
    )


class PreviewFailedSerializer(ErrorSerializer):
    """The query was refused, failed or timed out. Nothing is recorded."""

    detail = serializers.CharField(help_text="Why, in plain words.")
    # The run outcomes' choices (never "ok" here), so the schema has one Outcome enum.
    outcome = serializers.ChoiceField(choices=ArtifactRun.Outcome.choices)


class ExportFormatErrorSerializer(ErrorSerializer):
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


# --- charts ---------------------------------------------------------------------------------

CHART_FORMATS = ["png", "svg"]
# Big enough for print, small enough that one request cannot ask for a gigapixel PNG.
CHART_MAX_SIZE = 2000
CHART_MIN_SIZE = 50
CHART_MAX_SCALE = 2.0


class ChartQuerySerializer(Serializer):
    """The chart endpoint's own query parameters; every other one is a parameter value."""

    format = serializers.ChoiceField(
        choices=CHART_FORMATS,
        default="png",
        error_messages={"invalid_choice": '"{input}" is not a chart format; use png or svg.'},
    )
    width = serializers.IntegerField(
        required=False,
        min_value=CHART_MIN_SIZE,
        max_value=CHART_MAX_SIZE,
        help_text="Width of the whole image in CSS pixels, axes and legend included "
        "(single-view charts; the spec's own width otherwise).",
    )
    height = serializers.IntegerField(
        required=False,
        min_value=CHART_MIN_SIZE,
        max_value=CHART_MAX_SIZE,
        help_text="Height of the whole image in CSS pixels (as width).",
    )
    scale = serializers.FloatField(
        default=1.0,
        min_value=0.5,
        max_value=CHART_MAX_SCALE,
        help_text="Pixels per CSS pixel of a PNG (2 for sharp screens); SVGs ignore it.",
    )


class ChartFailedSerializer(ErrorSerializer):
    """The chart cannot be drawn: the artifact has none, or its spec does not fit the result."""

    detail = serializers.CharField(help_text="Why, in plain words.")
    problems = ChartProblemSerializer(many=True, help_text="The spec's errors, with paths.")
    run_id = serializers.IntegerField(
        allow_null=True, help_text="The run whose rows were to be drawn, when one ran."
    )


class ChartQueryErrorSerializer(ErrorSerializer):
    """A bad format, width, height or scale: messages keyed by the query parameter."""

    format = serializers.ListField(child=serializers.CharField(), required=False)
    width = serializers.ListField(child=serializers.CharField(), required=False)
    height = serializers.ListField(child=serializers.CharField(), required=False)
    scale = serializers.ListField(child=serializers.CharField(), required=False)


class InstantiateSerializer(Serializer):
    """A template filled in: where, with which slot values and parameter values."""

    data_source = serializers.CharField(
        max_length=64, help_text="A data source you may use; the slots are filled from its schema."
    )
    slots = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=200),
        help_text="Slot name: a table (table slots) or a column of the table chosen for its "
        "table slot (column slots), among the source's exposed tables and columns.",
    )
    params = ParameterValuesField(required=False, default=dict)
    title = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text="The new artifact's title; the template's when blank.",
    )
    preview = serializers.BooleanField(
        required=False,
        default=False,
        help_text="True: run the filled-in SQL and return its rows, saving and recording "
        "nothing. False: save a new private artifact of yours that remembers the template.",
    )


class InstantiateInputErrorsSerializer(ErrorSerializer):
    """What is wrong with the input; nothing ran and nothing was saved."""

    data_source = serializers.ListField(child=serializers.CharField(), required=False)
    slots = serializers.DictField(
        child=serializers.CharField(), required=False, help_text="Slot name: what is wrong."
    )
    sql = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="The filled-in SQL is refused by the guard.",
    )
    params = ParameterMessagesField(required=False)
    title = serializers.ListField(child=serializers.CharField(), required=False)
    preview = serializers.ListField(child=serializers.CharField(), required=False)
    non_field_errors = serializers.ListField(child=serializers.CharField(), required=False)

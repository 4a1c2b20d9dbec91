from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from apps.core.serializers import Serializer
from apps.datasources.access import validate_source_for
from apps.datasources.sources import Engine, default_data_source_name


class DataSourceSerializer(serializers.Serializer):
    """A named database that artifact SQL may read."""

    name = serializers.CharField()
    engine = serializers.ChoiceField(choices=[Engine.SQLITE, Engine.POSTGRESQL])
    dialect = serializers.CharField(help_text="The SQL dialect its queries are parsed in.")
    is_default = serializers.BooleanField(help_text="Where new artifacts run unless told.")
    timeout_seconds = serializers.FloatField(help_text="How long one query may run.")
    max_rows = serializers.IntegerField(help_text="The most rows a run shows.")
    export_max_rows = serializers.IntegerField(help_text="The most rows an export writes.")
    location = serializers.CharField(
        allow_null=True,
        help_text="Where it lives, with any password masked. Staff only: null for others.",
    )


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text='As the database declares it, e.g. "INTEGER".')
    nullable = serializers.BooleanField()


class ForeignKeySerializer(serializers.Serializer):
    """`columns` of the table hold values of `referenced_columns` of `referenced_table`."""

    columns = serializers.ListField(child=serializers.CharField())
    referenced_table = serializers.CharField(help_text="Named as in `tables`.")
    referenced_columns = serializers.ListField(child=serializers.CharField())


class SampleSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(
        child=serializers.ListField(child=serializers.JSONField()),
        help_text="The first rows as the table returns them (no order), values as in a run.",
    )
    error = serializers.CharField(
        allow_null=True, help_text="Why no rows could be read (a timeout, say), else null."
    )


class TableSerializer(serializers.Serializer):
    name = serializers.CharField()
    is_view = serializers.BooleanField()
    approx_rows = serializers.IntegerField(
        allow_null=True,
        help_text="Roughly how many rows: the database's statistics, or a count bounded in "
        "rows and time; null when unknown (a view, or too many rows to count quickly).",
    )
    columns = ColumnSerializer(many=True)
    foreign_keys = ForeignKeySerializer(many=True, help_text="What this table joins to.")
    sample = SampleSerializer(
        default=None,
        allow_null=True,
        help_text="A few rows of the table with ?samples=true, for the first tables of the "
        "list; null beyond them and without ?samples=true.",
    )


class DataSourceSchemaSerializer(serializers.Serializer):
    """The tables and views a data source offers, sorted by name, with their columns,
    foreign keys and approximate row counts."""

    data_source = serializers.CharField()
    tables = TableSerializer(many=True)


class SchemaQuerySerializer(serializers.Serializer):
    """The query string of the schema endpoint (text, so not the strict JSON types)."""

    samples = serializers.BooleanField(
        default=False,
        help_text="Include a few sample rows per table (one query each, so off by default).",
    )


def usable_source(serializer: serializers.Serializer, name: str) -> str:
    """`name` if the requesting user may use that source, for a serializer's
    validate_data_source. One the user may not use reads like an unknown one (no hint that it
    exists); without the request in the context nobody may use any (closed, not open)."""
    user = getattr(serializer.context.get("request"), "user", None) or AnonymousUser()
    try:
        validate_source_for(user, name)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages[0], code="unknown_data_source") from None
    return name


class SQLCheckSerializer(Serializer):
    """SQL to check against a data source's rules, without running it."""

    # Blank SQL is the guard's to answer ("The SQL is empty."), like any other SQL.
    sql = serializers.CharField(allow_blank=True, trim_whitespace=False)
    data_source = serializers.CharField(
        default=default_data_source_name,
        help_text="A configured data source the user may use; the server's default when left out.",
    )

    def validate_data_source(self, value: str) -> str:
        return usable_source(self, value)


class SQLValidateSerializer(SQLCheckSerializer):
    """SQL to check as the editor does, with the artifact's parameter declarations."""

    declarations = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        allow_null=True,
        default=None,
        help_text="The artifact's parameter declarations (objects with at least a `name`). "
        "Given, the answer lists the parameters used but not declared (`undeclared`) and "
        "those declared but no longer used (`unused`).",
    )


class DiagnosticSerializer(serializers.Serializer):
    """One problem, placed in the text when it has a place."""

    code = serializers.ChoiceField(
        choices=[
            "parse_error",
            "rejected",
            "unknown_table",
            "unknown_column",
            "undeclared_parameter",
            "unused_parameter",
        ]
    )
    severity = serializers.ChoiceField(
        choices=["error", "warning"],
        help_text="An error keeps the SQL from running or being saved; a warning does not.",
    )
    message = serializers.CharField(
        help_text='In plain words, e.g. "no column `totl` in `orders`; did you mean `total`?"'
    )
    start = serializers.IntegerField(
        allow_null=True, help_text="0-based offset of the first character; null: no place."
    )
    end = serializers.IntegerField(allow_null=True, help_text="0-based offset after the last.")
    line = serializers.IntegerField(allow_null=True, help_text="1-based line of `start`.")
    column = serializers.IntegerField(allow_null=True, help_text="1-based column of `start`.")
    suggestion = serializers.CharField(
        allow_null=True, help_text="The closest existing name (did you mean), if any."
    )


class ParameterUseSerializer(serializers.Serializer):
    name = serializers.CharField()
    start = serializers.IntegerField(help_text="0-based offset of the colon.")
    end = serializers.IntegerField()
    line = serializers.IntegerField()
    column = serializers.IntegerField()


class SQLCheckResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField(help_text="Whether the SQL may run (the guard's verdict).")
    error = serializers.CharField(allow_null=True, help_text="Why not, in plain words.")
    parameters = serializers.ListField(
        child=serializers.CharField(),
        help_text="The :name parameters the SQL uses, in order of first use; an artifact "
        "must declare each of them.",
    )
    parameter_uses = ParameterUseSerializer(
        many=True, help_text="Every :name in the text, with its place."
    )
    diagnostics = DiagnosticSerializer(
        many=True,
        help_text="Parse errors, the guard's refusal, unknown tables and columns (with a "
        "suggestion) and, with `declarations`, undeclared and unused parameters.",
    )
    undeclared = serializers.ListField(
        child=serializers.CharField(), help_text="Used but not declared (with `declarations`)."
    )
    unused = serializers.ListField(
        child=serializers.CharField(), help_text="Declared but not used (with `declarations`)."
    )
    parameter_types = serializers.DictField(
        child=serializers.ChoiceField(
            choices=["string", "integer", "number", "boolean", "date", "datetime"]
        ),
        help_text="For each parameter used, the type its use suggests (a cast, LIMIT, the "
        "column it is compared with, its name), to offer when declaring it.",
    )


class SQLFormatResultSerializer(serializers.Serializer):
    sql = serializers.CharField(
        help_text="The SQL pretty-printed for the data source's dialect, :name kept."
    )
